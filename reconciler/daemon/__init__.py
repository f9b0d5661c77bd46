"""The long-running daemon: scheduled jobs, HTTP, leader election (spec section 6)."""
