"""Locked-down networks: a private certificate authority, a forward proxy, and SIGTERM."""

from __future__ import annotations

import signal
import ssl
import time
from collections.abc import Iterator

import pytest
import trustme

from alert24 import exchange
from alert24_server import Alert24Server, alert24_error, hang
from conftest import API_KEY, assert_no_secret, run_pipe, start_pipe
from forward_proxy import forward_proxy


@pytest.fixture
def tls_server(private_ca: trustme.CA) -> Iterator[Alert24Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    private_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with Alert24Server(api_key=API_KEY, tls=context) as running:
        yield running


@pytest.fixture
def tls_env(bitbucket: dict[str, str], tls_server: Alert24Server) -> dict[str, str]:
    return {**bitbucket, "ALERT24_API_KEY": API_KEY, "ALERT24_BASE_URL": tls_server.url}


# TLS -------------------------------------------------------------------------------------------


def test_a_certificate_from_a_private_ca_is_refused_by_default(tls_env, tls_server):
    run = run_pipe(tls_env)
    port = tls_server.url.rsplit(":", 1)[1]
    assert run.returncode == 1
    assert f"the TLS certificate of 127.0.0.1:{port} was not trusted (" in run.stdout, run.output
    assert "pass its CA file as REQUESTS_CA_BUNDLE" in run.stdout
    assert tls_server.received == []


def test_a_certificate_from_a_private_ca_is_accepted_with_requests_ca_bundle(
    tls_env, tls_server, ca_bundle
):
    run = run_pipe({**tls_env, "REQUESTS_CA_BUNDLE": ca_bundle})
    assert run.returncode == 0, run.output
    assert len(tls_server.received) == 1


# Proxy -----------------------------------------------------------------------------------------


def test_with_https_proxy_the_request_goes_through_the_proxy(tls_env, tls_server, ca_bundle):
    with forward_proxy() as (proxy_url, proxy_log):
        run = run_pipe({**tls_env, "REQUESTS_CA_BUNDLE": ca_bundle, "HTTPS_PROXY": proxy_url})
    assert run.returncode == 0, run.output
    assert len(tls_server.received) == 1
    port = tls_server.url.rsplit(":", 1)[1]
    assert len(proxy_log) == 1 + len(tls_server.listed)  # the change, and the lookup before it
    assert all(line.startswith(f"CONNECT 127.0.0.1:{port} HTTP/") for line in proxy_log)
    assert_no_secret("\n".join(proxy_log))


def test_with_no_proxy_the_request_goes_around_the_proxy(tls_env, tls_server, ca_bundle):
    with forward_proxy() as (proxy_url, proxy_log):
        variables = {"HTTPS_PROXY": proxy_url, "NO_PROXY": "127.0.0.1"}
        run = run_pipe({**tls_env, "REQUESTS_CA_BUNDLE": ca_bundle, **variables})
    assert run.returncode == 0, run.output
    assert len(tls_server.received) == 1
    assert proxy_log == []


def test_a_proxy_that_is_down_is_named_in_the_message(tls_env, tls_server):
    run = run_pipe({**tls_env, "HTTPS_PROXY": "http://127.0.0.1:9", "MAX_RETRIES": "0"})
    assert run.returncode == 1
    assert (
        "the proxy failed (could not connect to 127.0.0.1:9: the connection was refused)"
    ) in run.stdout, run.output
    assert "Check HTTPS_PROXY and NO_PROXY" in run.stdout
    assert tls_server.received == []


# SIGTERM ---------------------------------------------------------------------------------------


def test_sigterm_while_waiting_to_retry_ends_the_pipe_within_a_second(env, server):
    server.script(alert24_error(503, "server_error", "Down", **{"Retry-After": "30"}))
    with start_pipe(env) as process:
        for line in process.stderr:
            if "retrying in" in line:
                break
        stopped = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=5)
    assert time.monotonic() - stopped < 1.0
    assert process.returncode == 1
    assert "Stopped by SIGTERM while waiting to retry: the change was not recorded." in stdout
    assert "Traceback" not in stdout + stderr
    assert len(server.received) == 1
    assert_no_secret(stdout + stderr)


def test_sigterm_while_alert24_has_not_answered_says_the_change_may_be_recorded(env, server):
    server.script(hang)
    with start_pipe(env) as process:
        deadline = time.monotonic() + 10
        while not server.received and time.monotonic() < deadline:
            time.sleep(0.02)
        stopped = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=5)
    assert time.monotonic() - stopped < 1.0
    assert process.returncode == 1
    assert (
        "Stopped by SIGTERM before Alert24 answered: the change may have been recorded; "
        "check Alert24." in stdout
    )
    assert_no_secret(stdout + stderr)


# ~/.netrc --------------------------------------------------------------------------------------


def test_a_netrc_naming_alert24s_host_does_not_replace_the_key(env, server, tmp_path):
    # requests swaps the Authorization header for ~/.netrc's credentials when given no auth
    # object; HOME is the run's working directory (conftest.process_env).
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login deploy password netrc-s3cret\n")
    (tmp_path / ".netrc").chmod(0o600)
    run = run_pipe(env, cwd=tmp_path)
    assert run.returncode == 0, run.output
    assert server.received[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert "netrc-s3cret" not in run.output


# The one-attempt primitive, as the lookup of earlier changes uses it ------------------------------


def test_exchange_sends_a_get_with_its_query_and_the_key_and_answers_without_raising(server):
    params = {"environment": "production", "source": "bitbucket-pipelines"}
    answer = exchange(
        "GET",
        f"{server.url}/api/v1/changes",
        api_key=API_KEY,
        user_agent="alert24-track-deployment/test",
        timeout=2,
        params=params,
    )
    request = server.listed[0]
    assert request.path == "/api/v1/changes?environment=production&source=bitbucket-pipelines"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "Content-Type" not in request.headers
    assert answer.status == 200
    assert answer.request_id


def test_exchange_that_cannot_connect_answers_with_the_problem(server):
    answer = exchange("GET", "http://127.0.0.1:9", api_key=API_KEY, user_agent="t", timeout=1)
    assert answer.status is None
    assert answer.problem.startswith("could not connect")
    assert answer.retryable
    assert not answer.outcome_unknown
