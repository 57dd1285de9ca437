# alert24/track-deployment: records a Bitbucket Pipelines deployment as an Alert24 change.
#
# Base image: python:3.13-alpine, the smaller of the two official candidates. From
# docker-library/repo-info (snapshots of Aug-Sep 2026): python:3.13-alpine is 16.9 MB (amd64)
# and 17.4 MB (arm64) compressed, ~45.6 MB on disk; python:3.13-slim (Debian trixie) is
# 43.0 MB (amd64) and 43.2 MB (arm64) compressed, ~126.3 MB on disk. Alpine is safe here:
# every binary package in the lock (PyYAML, charset-normalizer) has musllinux wheels for
# x86_64 and aarch64, and the toolkit is pure Python. The tag follows CPython 3.13 patch
# releases and Alpine security fixes; every release build picks them up.
FROM python:3.13-alpine

# git reads the step's clone: the deployed commit and the history since the last deployment.
# The version rule: the base image's Alpine release (3.22 and later) ships git 2.49 or newer,
# and git 2.45 is the least that reads reftable clones, git 3.0's default. What git adds:
# its binary and the libraries it links (pcre2, expat, libcurl's chain for remotes it never
# uses), about 10 MB or more on disk by CONTRIBUTING's "What it costs" (no Docker engine on
# the development machines to measure this image's layer itself). The Image step
# (test/test_docker_image.py) checks both: it prints git's version and fails below 2.45,
# reads a reftable clone, and prints this layer's size, failing past 40 MB. Not pinned:
# Alpine's package tracks its security fixes.
# hadolint ignore=DL3018
RUN apk add --no-cache git

# Exactly the hashed lock, nothing resolved at build time. --no-deps because the toolkit
# declares docker and GitPython, which only its test module imports (see requirements.in).
# bitbucket-pipes-toolkit exists only as an sdist: pip builds it in a throwaway isolated
# environment (setuptools for that build comes from PyPI and, as pip does for all build
# dependencies, is not hash-checked; it does not end up in the image). pip byte-compiles
# what it installs; PYTHONDONTWRITEBYTECODE keeps pip's own modules uncompiled in this
# layer, about 4 MB of bytecode that no run of the pipe ever loads.
COPY requirements.txt /requirements.txt
RUN PYTHONDONTWRITEBYTECODE=1 pip install --no-cache-dir --no-deps --require-hashes \
    -r /requirements.txt

# The MIT licence travels with the code it covers; pipe.yml gives the pipe its version (for its
# User-Agent and its DEBUG log, which support asks for).
COPY LICENSE.txt pipe.yml /
COPY pipe/*.py /pipe/

# Bytecode: the official image ships the standard library without .pyc files, so every run
# would compile the ~120 stdlib modules the pipe imports (measured on CPython 3.13: 0.44 s to
# start a dry run, 0.15 s with them compiled). This layer holds only that bytecode: the pipe's
# own modules (compileall) and the stdlib modules importing the pipe compiles, not the lock's
# (pip compiled those in the layer above). The Image step prints every layer's size. Importing
# also fails the build if a module cannot be imported; pipe.py runs nothing on import.
RUN python -m compileall -q /pipe \
 && PYTHONPATH=/pipe python -c "import pipe"

# Runtime: no .pyc writes into the throwaway container; unbuffered so stdout (the toolkit's
# success/fail lines, the dry-run request) and stderr (log lines) stay in order in the log.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Runs as root, like Atlassian's own pipes. Bitbucket mounts the clone directory (the working
# directory) and the pipe storage directories into the container, owned by the build's user
# (root on Bitbucket Cloud), and the pipe writes its receipt into
# BITBUCKET_PIPE_SHARED_STORAGE_DIR: a fixed non-root USER could not write there, and on
# self-hosted runners using another uid it could not be sure to read the checkout either.
ENTRYPOINT ["python", "/pipe/pipe.py"]
