# docmill worker image: the package, its offline models and a Prefect worker.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends git make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# A GPU site passes its CUDA torch here, e.g. --build-arg TORCH_SPEC="torch==2.13.0 --index-url <its index>".
ARG TORCH_SPEC=torch==2.13.0
COPY pyproject.toml README.md Makefile ./
COPY scripts ./scripts
COPY src ./src
COPY flows ./flows
COPY configs ./configs
RUN VENV=/opt/venv TORCH_SPEC="$TORCH_SPEC" bash scripts/install.sh
ENV PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1 SCARF_NO_ANALYTICS=1 DVC_NO_ANALYTICS=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false UNSTRUCTURED_DISABLE_NOTICE=1
# An unprivileged user runs the worker; /data (the compose volume) belongs to it, the code does not.
RUN useradd --system --uid 10001 --create-home --home-dir /home/docmill docmill \
    && mkdir -p /data && chown docmill:docmill /data
USER docmill
RUN git config --global user.name docmill && git config --global user.email docmill@localhost
CMD ["prefect", "worker", "start", "--pool", "docmill", "--type", "process"]
