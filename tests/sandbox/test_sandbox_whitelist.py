"""The liste blanche is served over HTTPS with the sandbox PKI, with conditional GET."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request

import pytest
from lxml import etree

from mssante_client.sandbox import SandboxInfo
from mssante_client.sandbox.whitelist import NAMESPACE

pytestmark = pytest.mark.sandbox


def _get(
    info: SandboxInfo, headers: dict[str, str] | None = None, ctx: ssl.SSLContext | None = None
) -> tuple[int, dict[str, str], bytes]:
    context = ctx or ssl.create_default_context(cafile=str(info.ca_file))
    request = urllib.request.Request(info.whitelist_url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), b""


def test_whitelist_lists_the_sandbox_domains(mssante_sandbox: SandboxInfo) -> None:
    status, headers, body = _get(mssante_sandbox)
    assert status == 200
    assert headers["Content-Type"].startswith("application/xml")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(body, parser)
    ns = {"lb": NAMESPACE}
    assert root.tag == f"{{{NAMESPACE}}}ListeBlanche"
    assert root.find("lb:DateDeGeneration", ns) is not None
    names = [d.findtext("lb:Nom", namespaces=ns) for d in root.iterfind("lb:Domaine", ns)]
    assert names == [*mssante_sandbox.operator_domains, mssante_sandbox.patient_domain]
    for domain in root.iterfind("lb:Domaine", ns):
        for child in (
            "Description",
            "DNCertificatOperateur",
            "ResponsableContact",
            "SupportContact",
            "DateMAJ",
        ):
            assert domain.findtext(f"lb:{child}", namespaces=ns)


def test_conditional_get_answers_304(mssante_sandbox: SandboxInfo) -> None:
    _, headers, body = _get(mssante_sandbox)
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    status, again, _ = _get(mssante_sandbox, {"If-None-Match": etag})
    assert status == 304 and again["ETag"] == etag
    status, _, _ = _get(mssante_sandbox, {"If-Modified-Since": last_modified})
    assert status == 304
    status, _, fresh = _get(mssante_sandbox, {"If-None-Match": '"something-else"'})
    assert status == 200 and fresh == body


def test_whitelist_certificate_is_not_trusted_by_the_system_store(
    mssante_sandbox: SandboxInfo,
) -> None:
    with pytest.raises(urllib.error.URLError) as caught:
        _get(mssante_sandbox, ctx=ssl.create_default_context())
    assert isinstance(caught.value.reason, ssl.SSLCertVerificationError)


def test_other_paths_are_404(mssante_sandbox: SandboxInfo) -> None:
    ctx = ssl.create_default_context(cafile=str(mssante_sandbox.ca_file))
    url = mssante_sandbox.whitelist_url.replace("listeblanchemssante.xml", "other.xml")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, context=ctx, timeout=10)
    assert caught.value.code == 404


def test_a_silent_client_does_not_stall_the_server(mssante_sandbox: SandboxInfo) -> None:
    import socket

    address = ("127.0.0.1", mssante_sandbox.ports.whitelist)
    with socket.create_connection(address, timeout=5):  # connects, never says hello
        status, _, body = _get(mssante_sandbox)
    assert status == 200 and body
