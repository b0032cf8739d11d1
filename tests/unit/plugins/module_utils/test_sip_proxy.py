"""sip_proxy: Kamailio tls.cfg and OpenSIPS tls_mgm settings, rendered and parsed back."""

import os

import pytest

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.sip_proxy import (
    parse_kamailio_tls_cfg, parse_opensips_modparams, render_kamailio_tls_cfg, render_opensips_tls_mgm)

PATHS = ("/etc/kamailio/tls/cert.pem", "/etc/kamailio/tls/key.pem", "/etc/kamailio/tls/ca.pem")


@pytest.mark.parametrize("verify_client, verify_server, method, server_verify, client_verify", [
    (False, True, "TLSv1.2+", "no", "yes"),
    (True, True, "TLSv1.2+", "yes", "yes"),
    (False, False, "TLSv1.3", "no", "no"),
])
def test_kamailio_tls_cfg(verify_client, verify_server, method, server_verify, client_verify):
    text = render_kamailio_tls_cfg(*PATHS, verify_client=verify_client, verify_server=verify_server, method=method)
    sections = parse_kamailio_tls_cfg(text)
    assert sorted(sections) == ["client:default", "server:default"]
    for section, verify in (("server:default", server_verify), ("client:default", client_verify)):
        values = sections[section]
        assert values == dict(method=method, verify_certificate=verify, require_certificate=verify,
                              certificate=PATHS[0], private_key=PATHS[1], ca_list=PATHS[2])


@pytest.mark.parametrize("bad", ["relative/cert.pem", "/with space/cert.pem", '/quote"d.pem', "/x]y.pem"])
def test_paths_must_be_plain_absolute(bad):
    with pytest.raises(MxonePkiError):
        render_kamailio_tls_cfg(bad, PATHS[1], PATHS[2])
    with pytest.raises(MxonePkiError):
        render_opensips_tls_mgm(PATHS[0], bad, PATHS[2])


def test_kamailio_parser_refuses_garbage():
    with pytest.raises(MxonePkiError, match="line 1"):
        parse_kamailio_tls_cfg("certificate = /x\n")


@pytest.mark.parametrize("domain, verify_client, verify_server", [
    ("mxone", False, True),
    ("sip-edge", True, False),
])
def test_opensips_tls_mgm(tmp_path, domain, verify_client, verify_server):
    files = []
    for name in ("cert.pem", "key.pem", "ca.pem"):
        path = os.path.join(str(tmp_path), name)
        open(path, "w").close()
        files.append(path)
    text = render_opensips_tls_mgm(*files, domain=domain, verify_client=verify_client, verify_server=verify_server)
    domains, kinds = parse_opensips_modparams(text)
    assert kinds == {domain: "server_domain", domain + "-client": "client_domain"}
    server, client = domains[domain], domains[domain + "-client"]
    for values in (server, client):
        assert (values["certificate"], values["private_key"], values["ca_list"]) == tuple(files)
        assert all(os.path.exists(values[param]) for param in ("certificate", "private_key", "ca_list"))
        assert values["match_ip_address"] == "*" and values["tls_method"] == "TLSv1_2-TLSv1_3"
    assert server["verify_cert"] == server["require_cert"] == ("1" if verify_client else "0")
    assert client["verify_cert"] == ("1" if verify_server else "0") and "require_cert" not in client
    assert all(line.startswith(("#", 'modparam("tls_mgm", ')) for line in text.splitlines())


def test_opensips_refuses_bad_domain_and_parser_refuses_garbage():
    with pytest.raises(MxonePkiError):
        render_opensips_tls_mgm(*PATHS, domain="bad domain")
    with pytest.raises(MxonePkiError, match="line 1"):
        parse_opensips_modparams('loadmodule "tls_mgm.so"\n')
    with pytest.raises(MxonePkiError, match="does not start with"):
        parse_opensips_modparams('modparam("tls_mgm", "certificate", "/no/domain.pem")\n')
