#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: tls_check
short_description: Check MX-ONE TLS listeners from the controller, as a SIP peer or a phone would
version_added: 0.1.0
description:
  - Connects to every endpoint (a LIM's IP and TLS port, by default 5061) and makes a TLS handshake
    that trusts only the given CA certificate(s), checks that the certificate is valid for the endpoint's
    O(endpoints[].server_name) (for example V(lim2.sthlm.mx.example.net)), and requires TLS 1.2 or newer.
  - The CA comes from a file on the controller (O(ca_path), the deployed C(ca.pem)) or is first fetched over
    HTTP from a phone download server (O(ca_url)) and then used alone, as a phone does.
  - For each endpoint returns whether it passed, why not (connection refused, timeout, certificate verify
    failed, hostname mismatch, client certificate required...), the TLS version and cipher, and the facts
    of the certificate the server sent. When verification fails, a second handshake without verification
    still reports which certificate is served.
  - Endpoints are probed concurrently (O(parallel)). Only connection refused and timeouts are retried
    (O(retries)); a listener just reloaded may need a moment, a wrong certificate does not improve.
  - Read-only; never changes anything and never returns key material or passphrases. Runs where it is
    executed; use C(delegate_to=localhost) and C(run_once=true) to check a whole fleet from the controller.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.attributes
  - mxone.pki.attributes.read_only
  - mxone.pki.cryptography
options:
  endpoints:
    description: The TLS listeners to check.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Label used in results and messages, for example the inventory host.
          - Defaults to O(endpoints[].address).
        type: str
      address:
        description: IP address (or resolvable name) to connect to.
        type: str
        required: true
      port:
        description: TCP port; V(5061) for SIP over TLS, V(1300)/V(1301) for H.323.
        type: int
        default: 5061
      server_name:
        description:
          - The name the certificate must be valid for, sent as SNI; for example C(lim<N>.<mxone_domain>).
          - Defaults to O(endpoints[].address), so that the certificate must then carry the IP address (as a
            peer that routes by IP requires).
        type: str
      system:
        description: The MX-ONE system the endpoint belongs to; returned as is.
        type: str
      expected_cert:
        description:
          - The certificate (PEM) the endpoint must serve, for example the PKI store's C(server.pem). A verified
            answer with another certificate fails as stale - C(stale - serves serial X ..., the PKI store has
            serial Y) - with RV(results[].stale) set.
        type: path
  ca_path:
    description:
      - PEM file with the CA certificate(s) to trust (for example the deployed C(ca.pem)); a single DER
        certificate is accepted too. Nothing else is trusted.
      - Exactly one of O(ca_path) and O(ca_url) is required. A missing file or one without a certificate
        fails every endpoint with that reason.
    type: path
  ca_url:
    description:
      - http:// (or https://) URL to fetch the CA file from before the handshakes, such as the C(ca.pem)
        on a phone download server; the fetched certificate(s) alone are trusted.
      - Fetched directly, without proxy, as a phone would. If the fetch fails or the content holds no
        certificate, every endpoint fails with that reason.
    type: str
  client_cert_path:
    description:
      - Client certificate (PEM, with its chain if needed) to present, for LIMs with
        C(TlsClientVerificationMode) V(mandatory) or V(optional).
      - May also hold the private key, then O(client_key_path) can be left out.
    type: path
  client_key_path:
    description: Private key of O(client_cert_path).
    type: path
  client_key_passphrase:
    description: Passphrase of the client key, if it is encrypted.
    type: str
  timeout:
    description: Seconds one attempt (TCP connect and TLS handshake) may take; also the timeout of the O(ca_url) fetch.
    type: float
    default: 5
  parallel:
    description: How many endpoints are probed at the same time.
    type: int
    default: 16
  retries:
    description: How many times to try again after connection refused or a timeout (not after a verification failure).
    type: int
    default: 0
  retry_delay:
    description: Seconds to wait before each retry.
    type: float
    default: 1
  fail_on_error:
    description:
      - Fail the task when any endpoint fails; the message lists each failed endpoint on a line of its own
        as name (address:port, server_name), a colon and the error; the results are returned as well.
      - When V(false), the task succeeds and RV(ok) and RV(failed_endpoints) tell.
    type: bool
    default: true
notes:
  - With TLS 1.3 a server judges the client certificate only after the client's handshake is done; the
    module waits up to a second for the server's verdict (session tickets or an alert), so that a server
    requiring a client certificate is reported as failing.
seealso:
  - module: mxone.pki.cert_info
"""

EXAMPLES = r"""
- name: Every LIM serves a certificate for lim<N>.<domain> that ca.pem verifies
  mxone.pki.tls_check:
    ca_path: pki/ca/ca.pem
    endpoints:
      - {name: sthlm-lim1, system: sthlm, address: 192.0.2.11, server_name: lim1.sthlm.mx.example.net}
      - {name: sthlm-lim2, system: sthlm, address: 192.0.2.12, server_name: lim2.sthlm.mx.example.net}
      - {name: sthlm-lim2-h323, system: sthlm, address: 192.0.2.12, port: 1301, server_name: lim2.sthlm.mx.example.net}
  delegate_to: localhost
  run_once: true

- name: As a phone would - fetch ca.pem from the download server and trust it alone
  mxone.pki.tls_check:
    ca_url: http://192.0.2.50/ca.pem
    endpoints:
      - {name: sthlm-lim1, address: 192.0.2.11, server_name: lim1.sthlm.mx.example.net}
      - {name: sthlm-lim1-h323, address: 192.0.2.11, port: 1300, server_name: lim1.sthlm.mx.example.net}
    retries: 5
    retry_delay: 2
  delegate_to: localhost
  run_once: true

- name: A LIM with mandatory client verification, reported without failing the play
  mxone.pki.tls_check:
    ca_path: pki/ca/ca.pem
    client_cert_path: pki/peer/client.pem
    client_key_path: pki/peer/client.key
    client_key_passphrase: "{{ vault_peer_key_passphrase }}"
    endpoints:
      - {name: malmo-lim3, address: 192.0.2.23, server_name: lim3.malmo.mx.example.net}
    fail_on_error: false
  delegate_to: localhost
  run_once: true
  register: mtls

- name: Show what each endpoint serves
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ 'ok' if item.ok else item.error }}, serial {{ item.certificate.serial | default('-') }}"
  loop: "{{ mtls.results }}"
  loop_control:
    label: "{{ item.name }}"
"""

RETURN = r"""
ok:
  description: Whether every endpoint passed.
  returned: always
  type: bool
failed_endpoints:
  description: Names of the endpoints that failed, in the order given.
  returned: always
  type: list
  elements: str
  sample: [sthlm-lim2]
results:
  description: One entry per endpoint, in the order of O(endpoints).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The endpoint's name.
      type: str
    system:
      description: The endpoint's system, if given.
      type: str
    address:
      description: Address connected to.
      type: str
    port:
      description: Port connected to.
      type: int
    server_name:
      description: Name checked against the certificate (and sent as SNI).
      type: str
    ok:
      description: Whether the connection, handshake and verification succeeded.
      type: bool
    error:
      description:
        - Why not; null when RV(results[].ok). For example V(connection refused), V(timeout),
          V(certificate verify failed), V(hostname mismatch), V(the server requires a client certificate),
          V(the server refused the client certificate) or V(TLS handshake failed), or is the CA problem.
      type: str
      sample: "certificate verify failed: unable to get local issuer certificate (served: issuer CN=X CA, serial 1f3a)"
    attempts:
      description: Connection attempts made (0 when the CA could not be loaded).
      type: int
    tls_version:
      description: Negotiated TLS version, such as V(TLSv1.3).
      type: str
    cipher:
      description: Negotiated cipher suite.
      type: str
    certificate:
      description:
        - Facts of the certificate the server sent (subject, common_name, dns, ips, issuer, serial, not_before,
          not_after, days_left, expired, sha256_fingerprint...), also when verification failed; null when no
          certificate was seen.
      type: dict
    certificate_verified:
      description: Whether RV(results[].certificate) comes from a handshake that verified it.
      type: bool
    stale:
      description: The endpoint served a verified certificate other than its O(endpoints[].expected_cert).
      type: bool
      returned: when it did
  sample:
    - name: sthlm-lim1
      system: sthlm
      address: 192.0.2.11
      port: 5061
      server_name: lim1.sthlm.mx.example.net
      ok: true
      error: null
      attempts: 1
      tls_version: TLSv1.3
      cipher: TLS_AES_256_GCM_SHA384
      certificate_verified: true
      certificate: {common_name: "*.sthlm.mx.example.net", serial: "5c1e...", days_left: 363}
ca:
  description:
    - The trusted CA certificates (subject, not_after, sha256_fingerprint), their source (path or URL),
      and the error when they could not be loaded.
  returned: always
  type: dict
client_certificate:
  description: Subject, issuer, serial, not_after and fingerprint of the client certificate presented; null without one.
  returned: always
  type: dict
msg:
  description:
    - On failure, a header and one line per failed endpoint, name (address:port, server_name), a colon and
      the error.
  returned: failed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxone.pki.plugins.module_utils._crypto import require_cryptography
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.module_glue import fail
from ansible_collections.mxone.pki.plugins.module_utils.tls_probe import TLS_CHECK_SPEC, tls_check


def module_kwargs():
    """AnsibleModule's validation arguments; the module and its in-process action plugin share them."""
    return dict(TLS_CHECK_SPEC)


def run(module):
    """The module's work; its action plugin calls this too, in-process on the controller."""
    require_cryptography(module)
    try:
        result, failure = tls_check(module.params)
    except MxonePkiError as error:
        fail(module, error, changed=False)
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


def main():
    run(AnsibleModule(supports_check_mode=True, **module_kwargs()))


if __name__ == "__main__":
    main()
