"""phones: fragments for Mitel 6000 SIP phones and MiVoice 5300 IP phones, parsed back; Bothway plans."""

import pytest

from ansible_collections.mxone.pki.plugins.module_utils.devices import device_files, kind_defaults
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.phones import (
    FRAGMENT_5300, FRAGMENT_6000, check_plan, client_names, download_files, mitel6000_settings,
    mivoice5300_settings, normalise_mac, parse_mitel6000, parse_mivoice5300, render_mitel6000, render_mivoice5300)

BASE_6000 = {
    "sip transport protocol": "4",
    "sip proxy port": "5061",
    "sip registrar port": "5061",
    "sip backup proxy port": "5061",
    "sip backup registrar port": "5061",
    "sips persistent tls": "1",
    "sips trusted certificates": "ca.pem",
    "sips tls authentication": "1",
    "sip srtp mode": "1",
    "srtp aes256 key": "1",
    "time server1": "192.0.2.1",
}


@pytest.mark.parametrize("kwargs, extra", [
    ({}, {}),
    ({"aes256": False}, {"srtp aes256 key": "0"}),
    ({"bothway": True}, {"sips root and intermediate certificates": "ca.pem"}),
    ({"bothway": True, "client_cert": "phone-client.crt", "client_key": "phone-client.key"},
     {"sips root and intermediate certificates": "ca.pem", "sips local certificate": "phone-client.crt",
      "sips private key": "phone-client.key"}),
])
def test_mitel6000_fragment_parses_back(kwargs, extra):
    text = render_mitel6000(mitel6000_settings("ca.pem", "192.0.2.1", **kwargs))
    expected = dict(BASE_6000)
    expected.update(extra)
    assert parse_mitel6000(text) == expected


def test_mivoice5300_fragment_parses_back():
    text = render_mivoice5300(mivoice5300_settings("ca.pem", "ntp.example.net"))
    assert parse_mivoice5300(text) == {"SIP_PORT_PBX": "5061", "SIP_PORT_PBX_BACKUP": "5061",
                                       "SIP_TRANS_PROTO": "TLS", "TRUSTED_CERTS": "ca.pem",
                                       "TIME_SERVER": "ntp.example.net"}


@pytest.mark.parametrize("ca_file, time_server, field", [
    ("ca.pem", "", "phones_time_server"),
    ("ca.pem", "not a host", "phones_time_server"),
    ("../ca.pem", "192.0.2.1", "phones_ca_file"),
    ("dir/ca.pem", "192.0.2.1", "phones_ca_file"),
])
def test_fragment_inputs_refused(ca_file, time_server, field):
    for render in (lambda: mitel6000_settings(ca_file, time_server),
                   lambda: mivoice5300_settings(ca_file, time_server)):
        with pytest.raises(MxonePkiError) as error:
            render()
        assert error.value.field == field


@pytest.mark.parametrize("mac, normal", [
    ("00:08:5d:1a:2b:3c", "00085D1A2B3C"),
    ("00-08-5D-1A-2B-3C", "00085D1A2B3C"),
    ("0008.5d1a.2b3c", "00085D1A2B3C"),
    ("00085d1a2b3c", "00085D1A2B3C"),
])
def test_normalise_mac(mac, normal):
    assert normalise_mac(mac) == normal


@pytest.mark.parametrize("models, bothway, mode, macs, field", [
    (["mitel6000", "mivoice5300"], True, "shared", [], "phones_bothway"),
    (["mivoice5300"], True, "shared", [], "phones_bothway"),
    (["mitel6000"], True, "per_phone", [], "phones_macs"),
    (["mitel6000"], True, "per_phone", ["00:08:5d:1a:2b:3c", "00085D1A2B3C"], "phones_macs"),
    (["mitel6000"], False, "shared", ["zz:08:5d:1a:2b:3c"], "phones_macs"),
    (["mitel6700"], False, "shared", [], "phones_models"),
    (["mitel6000"], True, "each", [], "phones_client_cert_mode"),
])
def test_plan_refusals(models, bothway, mode, macs, field):
    with pytest.raises(MxonePkiError) as error:
        check_plan(models, bothway, mode, macs)
    assert error.value.field == field


def test_download_files_without_bothway():
    files = download_files(["mitel6000", "mivoice5300"], "192.0.2.1")
    assert [f["name"] for f in files["fragments"]] == [FRAGMENT_6000, FRAGMENT_5300]
    assert files["clients"] == []
    assert parse_mitel6000(files["fragments"][0]["content"]) == BASE_6000


def test_download_files_bothway_shared():
    files = download_files(["mitel6000"], "192.0.2.1", bothway=True, client_common_name="acme-phones")
    assert files["clients"] == [dict(stem="phone-client", common_name="acme-phones", cert="phone-client.crt",
                                     key="phone-client.key")]
    values = parse_mitel6000(files["fragments"][0]["content"])
    assert values["sips local certificate"] == "phone-client.crt"
    assert values["sips private key"] == "phone-client.key"


def test_download_files_bothway_per_phone():
    files = download_files(["mitel6000"], "192.0.2.1", bothway=True, client_cert_mode="per_phone",
                           macs=["00:08:5d:1a:2b:3c", "00:08:5d:1a:2b:3d"])
    assert [c["common_name"] for c in files["clients"]] == ["00085D1A2B3C", "00085D1A2B3D"]
    names = [f["name"] for f in files["fragments"]]
    assert names == [FRAGMENT_6000, "00085D1A2B3C-tls.cfg", "00085D1A2B3D-tls.cfg"]
    shared = parse_mitel6000(files["fragments"][0]["content"])
    assert "sips local certificate" not in shared and shared["sips root and intermediate certificates"] == "ca.pem"
    assert parse_mitel6000(files["fragments"][1]["content"]) == {
        "sips local certificate": "00085D1A2B3C.crt", "sips private key": "00085D1A2B3C.key"}


@pytest.mark.parametrize("cn, ok", [("00085D1A2B3C", True), ("mitel-phones", True), ("bad name", False), ("", False)])
def test_client_names(cn, ok):
    if ok:
        assert client_names(cn).common_name == cn
    else:
        with pytest.raises(MxonePkiError):
            client_names(cn)


@pytest.mark.parametrize("mode, macs", [("shared", None), ("per_phone", ["00:08:5d:1a:2b:3c"])])
def test_client_files_are_the_ones_device_cert_writes_for_a_phone(mode, macs):
    # the download server serves what device_cert (kind phone, format pem_parts) wrote under the same stem
    files = download_files(["mitel6000"], "192.0.2.1", bothway=True, client_cert_mode=mode, macs=macs)
    for client in files["clients"]:
        written = device_files(kind_defaults("phone")["format"], client["stem"])
        assert (client["cert"], client["key"]) == (written["cert"], written["key"])


@pytest.mark.parametrize("parse, text, words", [
    (parse_mitel6000, "# comment\nsip srtp mode 1\n", "line 2: 'sip srtp mode 1' is not 'parameter: value'"),
    (parse_mivoice5300, "\nSIP_TRANS_PROTO: TLS\n", "line 2: 'SIP_TRANS_PROTO: TLS' is not NAME=value"),
])
def test_a_line_that_is_not_a_setting_is_refused(parse, text, words):
    with pytest.raises(MxonePkiError) as info:
        parse(text)
    assert words in info.value.msg
