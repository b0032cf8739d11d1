"""certs.signed_by and the import with every signature a customer's CA uses: RSA PKCS#1 v1.5, RSA-PSS, ECDSA, Ed25519."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from _fixtures import DAY, DOMAIN, LIM_DNS, LIMS, NOW, pem_cert
from ansible_collections.mxone.pki.plugins.module_utils.certs import signed_by
from ansible_collections.mxone.pki.plugins.module_utils.importer import import_signed
from ansible_collections.mxone.pki.plugins.module_utils.naming import system_names

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _sign(builder, key, style):
    if style == "ed25519":
        return builder.sign(key, None)
    if style == "pss":
        return builder.sign(key, hashes.SHA256(), rsa_padding=PSS)
    if style == "ecdsa384":
        return builder.sign(key, hashes.SHA384())
    return builder.sign(key, hashes.SHA256())


def _cert(subject, issuer_name, public_key, signing_key, style, ca, dns=()):
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer_name))
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - 30 * DAY).not_valid_after(NOW + 364 * DAY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    return _sign(builder, signing_key, style)


def _new_key(style):
    if style == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if style.startswith("ecdsa"):
        return ec.generate_private_key(ec.SECP384R1() if style == "ecdsa384" else ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _chain(style, leaf_key_style="rsa"):
    """root -> intermediate -> leaf, the CAs signing with ``style``."""
    root_key, int_key = _new_key(style), _new_key(style)
    leaf_key = _new_key(leaf_key_style)
    root = _cert("%s Root" % style, "%s Root" % style, root_key.public_key(), root_key, style, True)
    inter = _cert("%s Issuing" % style, "%s Root" % style, int_key.public_key(), root_key, style, True)
    leaf = _cert("*." + DOMAIN, "%s Issuing" % style, leaf_key.public_key(), int_key, style, False,
                 ["*." + DOMAIN] + sorted(LIM_DNS))
    return root, inter, leaf, leaf_key


STYLES = ["pkcs1", "pss", "ecdsa", "ecdsa384", "ed25519"]


@pytest.mark.parametrize("style", STYLES)
def test_signed_by_every_algorithm(style):
    root, inter, leaf = _chain(style, "ecdsa" if style.startswith("ecdsa") else "rsa")[:3]
    assert signed_by(leaf, inter)
    assert signed_by(inter, root)
    assert signed_by(root, root)
    assert not signed_by(leaf, root)        # the names do not link
    other_inter = _chain(style)[1]
    forged = _cert("%s Issuing" % style, "%s Root" % style, inter.public_key(), _new_key(style), style, True)
    assert not signed_by(forged, root)      # the names link, the signature does not
    assert not signed_by(leaf, other_inter) or other_inter.subject != inter.subject


def test_pss_signed_certificate_with_the_wrong_key_is_not_signed_by():
    leaf = _chain("pss")[2]
    impostor_key = _new_key("pss")
    impostor = _cert("pss Issuing", "pss Root", impostor_key.public_key(), impostor_key, "pss", True)
    assert not signed_by(leaf, impostor)


@pytest.mark.parametrize("style, leaf_key_style", [("pss", "rsa"), ("ecdsa", "ecdsa"), ("ecdsa384", "ecdsa"),
                                                   ("ed25519", "rsa")])
def test_import_links_chains_of_every_algorithm(style, leaf_key_style):
    root, inter, leaf, leaf_key = _chain(style, leaf_key_style)
    imported = import_signed(pem_cert(leaf), "server.pem", NOW, ca_data=pem_cert(root) + pem_cert(inter),
                             ca_source="ca.pem", key=leaf_key, wanted=system_names(DOMAIN, LIMS))
    assert imported.leaf == leaf
    assert imported.chain == [inter, root]
    assert imported.coverage.accepted
    assert imported.coverage.missing_ips == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
