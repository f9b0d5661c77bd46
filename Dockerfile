# The reconciler daemon's image: Python, git (and ssh for ssh remotes), the package, a non-root
# user whose UID matches deploy/deployment.yaml (65532), and nothing writable but the volumes.
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
COPY soa-configs-template /usr/share/reconciler/soa-configs-template
RUN pip install --no-cache-dir . && rm -rf /src
USER 65532:65532
ENV HOME=/tmp PYTHONUNBUFFERED=1
ENTRYPOINT ["reconciler"]
CMD ["run", "--config", "/etc/reconciler/reconciler.yaml"]
