"""Sources: where the desired state comes from (git mirrors, commits, directories).

An edge package: it reads git and disk and knows nothing of clusters or the engine.
`DirectoryTree` reads a soa-configs directory, `Mirror` keeps a local bare copy of a remote,
`GitTree` reads a soa-configs commit (and the deployments branch) like a directory, `changes`
finds the services two commits differ in, and `SourcePoller` puts them together for the daemon
and the CLI.
"""
