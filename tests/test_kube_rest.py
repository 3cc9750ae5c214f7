"""The cockpit's own Kubernetes REST client: no ``kubernetes`` import, TLS, auth, resolution.

Kubeconfig resolution runs the official library in a child process; these tests give it
real kubeconfigs (inline certificates, ``tls-server-name``, exec credential plugins) and
check what reaches a TLS server built from the in-repo API double's handler.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cockpit.backends.kubernetes import KubeContext, KubernetesServicesSource
from cockpit.backends.kubernetes.rest import KubeRest, ResolveError, iter_lines, resolve
from cockpit.errors import CredentialsError
from cockpit.lab.k8s import K8sState, _Handler, _Server

ROOT = Path(__file__).resolve().parents[1]
NS = "shop"


# --- the cockpit process ------------------------------------------------------------------


def test_kubernetes_sources_fetch_without_importing_the_kubernetes_package(tmp_path: Path):
    # A fresh interpreter: other tests import the official client into this one.
    script = textwrap.dedent("""
        import asyncio, json, sys
        from pathlib import Path
        from cockpit.lab.k8s import K8sState, start_double, write_kubeconfig
        from cockpit.profile import KubernetesConfig, Profile
        from cockpit.sources import build_sources

        st = K8sState(metrics=True)
        st.add_deployment("shop", "api", replicas=2)
        pods = st.pods_for("shop", "api", 2)
        st.add_node("node-1")
        url, stop, st = start_double(st)
        import os
        os.environ["KUBECONFIG"] = str(write_kubeconfig(Path(sys.argv[1]), url, "double"))

        async def main():
            built = build_sources(Profile(name="p", kubernetes=(KubernetesConfig("double", ("shop",)),)))
            out = {}
            for s in built.sources:
                out[s.id] = [r.name for r in await s.fetch()]
            services = next(s for s in built.sources if s.id == "k8s:double:shop")
            row = next(r for r in await services.fetch() if r.name == "deployment/api")
            out["detail"] = [d.title for d in await services.detail(row)]
            out["restart"] = await services.restart(row)
            logs = built.log_sources[0]
            st.append_log("shop", pods[0]["metadata"]["name"], "hello from the pod")
            agen = logs.follow()
            seen = []
            while not any(r.text == "hello from the pod" for r in seen):
                seen += await asyncio.wait_for(agen.__anext__(), 10)
            await agen.aclose()
            for s in [*built.sources, *built.log_sources]:
                await s.close()
            out["loaded"] = sorted(m for m in sys.modules
                                   if m == "kubernetes" or m.startswith("kubernetes."))
            print(json.dumps(out))

        asyncio.run(main())
        stop()
    """)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "kubeconfig")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["k8s:double:shop"] == ["deployment/api"]
    assert out["detail"][0] == "pods (2)"
    assert "restarted" in out["restart"]
    assert out["loaded"] == [], "the cockpit process imported the official client"


def test_iter_lines_joins_chunks_and_decodes_leniently():
    class Resp:
        def stream(self, amt: int, decode_content: bool = False) -> Iterator[bytes]:
            yield from [b'{"a":', b'1}\n{"b"', b':2}\n\n', "é".encode()[:1], "é".encode()[1:] + b"\n",
                        b"\xff tail"]

    assert list(iter_lines(Resp())) == ['{"a":1}', '{"b":2}', "", "é", "\ufffd tail"]


# --- TLS and auth against a server made from the double's handler -------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate valid only for kube.internal, and a client certificate."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca", cwd=d)
    for name, ext in (("server", "subjectAltName=DNS:kube.internal"), ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}-cn", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d


class _AuthHandler(_Handler):
    """The double's handler behind a token check; records what each request presented."""

    def _gate(self) -> bool:
        srv: Any = self.server
        cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        subject = dict(x[0] for x in cert["subject"]) if cert else {}
        auth = self.headers.get("Authorization", "")
        srv.seen.append((auth, subject.get("commonName", "")))
        if auth not in srv.tokens:
            self._error(401, "Unauthorized", "Unauthorized")
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self._gate():
            super().do_GET()


@pytest.fixture
def server(pki: Path) -> Iterator[Any]:
    st = K8sState()
    st.add_deployment(NS, "api", replicas=2)
    srv = _Server(("127.0.0.1", 0), _AuthHandler)
    srv.state = st
    srv.seen = []
    srv.tokens = {"Bearer good"}
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki / "server.pem", pki / "server.key")
    tls.load_verify_locations(pki / "ca.pem")
    tls.verify_mode = ssl.CERT_REQUIRED  # the client must present its certificate
    srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    srv.url = f"https://127.0.0.1:{srv.server_address[1]}"
    try:
        yield srv
    finally:
        with st.cond:
            st.stopping = True
            st.cond.notify_all()
        srv.shutdown()
        srv.server_close()


def _b64(p: Path) -> str:
    return base64.b64encode(p.read_bytes()).decode()


def _kubeconfig(path: Path, server: str, user: dict[str, Any], *, cluster: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "tls",
        "clusters": [{"name": "tls", "cluster": {"server": server, **cluster}}],
        "users": [{"name": "tls", "user": user}],
        "contexts": [{"name": "tls", "context": {"cluster": "tls", "user": "tls"}}],
    }))
    return path


async def test_inline_certificates_token_and_tls_server_name_reach_a_tls_server(
    server: Any, pki: Path, tmp_path: Path
):
    kc = _kubeconfig(tmp_path / "kc", server.url, {
        "token": "good", "client-certificate-data": _b64(pki / "client.pem"),
        "client-key-data": _b64(pki / "client.key")},
        cluster={"certificate-authority-data": _b64(pki / "ca.pem"), "tls-server-name": "kube.internal"})
    ctx = KubeContext("tls", kubeconfig=str(kc))
    src = KubernetesServicesSource(ctx, NS)
    try:
        rows = await src.fetch()
        assert [r.name for r in rows] == ["deployment/api"]
        assert ("Bearer good", "client-cn") in server.seen
        rest = ctx.rest()
        pem_dir = Path(rest._dir or "")
        assert stat.S_IMODE(pem_dir.stat().st_mode) == 0o700
        files = sorted(pem_dir.iterdir())
        assert len(files) == 3 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    finally:
        await src.close()
    assert not pem_dir.exists(), "the key material is removed when the context closes"


def test_a_server_name_the_certificate_does_not_carry_is_refused(server: Any, pki: Path, tmp_path: Path):
    # Without tls-server-name the client checks 127.0.0.1, which the certificate does not name.
    kc = _kubeconfig(tmp_path / "kc", server.url, {"token": "good"},
                     cluster={"certificate-authority-data": _b64(pki / "ca.pem")})
    rest = KubeRest(str(kc), "tls")
    try:
        with pytest.raises(Exception) as e:
            rest.get("/api/v1/namespaces/shop/pods")
        assert "SSLError" in type(e.value).__name__
    finally:
        rest.close()


def _exec_user(tmp_path: Path, body: str) -> dict[str, Any]:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(textwrap.dedent(body))
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                     "args": [str(plugin)], "interactiveMode": "Never"}}


_COUNTING_PLUGIN = """
    import json, pathlib, sys
    counter = pathlib.Path(sys.argv[0]).with_suffix(".count")
    n = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(n))
    print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                      "status": {"token": f"t{n}"}}))
"""


def test_an_expired_exec_token_is_resolved_again_once(server: Any, pki: Path, tmp_path: Path):
    server.tokens = {"Bearer t2"}  # the first token the plugin hands out has "expired"
    user = _exec_user(tmp_path, _COUNTING_PLUGIN) | {
        "client-certificate-data": _b64(pki / "client.pem"), "client-key-data": _b64(pki / "client.key")}
    kc = _kubeconfig(tmp_path / "kc", server.url, user,
                     cluster={"certificate-authority-data": _b64(pki / "ca.pem"),
                              "tls-server-name": "kube.internal"})
    rest = KubeRest(str(kc), "tls")
    try:
        resp = rest.get("/apis/apps/v1/namespaces/shop/deployments")
        assert resp.status == 200 and json.loads(resp.data)["items"][0]["metadata"]["name"] == "api"
        assert [a for a, _ in server.seen] == ["Bearer t1", "Bearer t2"]
        # Still refused after a fresh token: one retry only, the 401 goes to the caller.
        server.tokens = set()
        resp = rest.get("/apis/apps/v1/namespaces/shop/deployments")
        assert resp.status == 401
        assert [a for a, _ in server.seen][2:] == ["Bearer t2", "Bearer t3"]
    finally:
        rest.close()


def test_a_hanging_exec_plugin_is_cut_off_and_says_so(tmp_path: Path):
    user = _exec_user(tmp_path, "import time\ntime.sleep(60)\n")
    kc = _kubeconfig(tmp_path / "kc", "https://127.0.0.1:1", user, cluster={})
    started = time.monotonic()
    with pytest.raises(ResolveError) as e:
        resolve(str(kc), "tls", timeout=1.5)
    assert time.monotonic() - started < 10, "the plugin's own process must not be waited for"
    assert "took over 1.5 s" in str(e.value) and "exec credential plugin" in str(e.value)


async def test_a_broken_kubeconfig_is_a_credentials_error_with_its_first_line(tmp_path: Path):
    kc = tmp_path / "kc"
    kc.write_text("clusters: [this is: not: yaml\n")
    src = KubernetesServicesSource(KubeContext("any", kubeconfig=str(kc)), NS)
    try:
        with pytest.raises(CredentialsError) as e:
            await src.fetch()
        assert e.value.message.startswith("kubernetes context any: ") and "\n" not in e.value.message
        assert "KUBECONFIG" in e.value.hint
    finally:
        await src.close()


def test_urllib3_errors_are_translated_by_name():
    from urllib3.exceptions import (
        MaxRetryError,
        NewConnectionError,
        ProtocolError,
        ReadTimeoutError,
        SSLError,
    )

    from cockpit.backends.kubernetes import translate

    def message(e: BaseException) -> str:
        return translate(e, "watch pods", "prod").message

    assert "cannot reach the API server of prod" in message(NewConnectionError(None, "refused"))
    assert "cannot reach" in message(MaxRetryError(None, "/api", NewConnectionError(None, "refused")))
    assert "connection to prod dropped" in message(ProtocolError("Connection broken: IncompleteRead"))
    assert "dropped" in message(ReadTimeoutError(None, "/api", "read timed out"))
    assert "TLS with the API server of prod failed" in message(SSLError("certificate verify failed"))
