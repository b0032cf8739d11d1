# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the mxone_devices role: one-line wrappers over the device formats in module_utils."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mxone.pki.plugins.module_utils import devices, phones, sip_proxy
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError


def _wrap(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except MxonePkiError as error:
        raise AnsibleFilterError(str(error))


def device_paths(pki_dir, host):
    return _wrap(devices.device_paths, pki_dir, host)


def kamailio_tls_cfg(paths, verify_client=False, verify_server=True, method=sip_proxy.KAMAILIO_DEFAULT_METHOD):
    return _wrap(sip_proxy.render_kamailio_tls_cfg, paths["cert"], paths["key"], paths["ca"],
                 verify_client=verify_client, verify_server=verify_server, method=method)


def opensips_tls_mgm(paths, domain="mxone", verify_client=False, verify_server=True,
                     method=sip_proxy.OPENSIPS_DEFAULT_METHOD):
    return _wrap(sip_proxy.render_opensips_tls_mgm, paths["cert"], paths["key"], paths["ca"], domain=domain,
                 verify_client=verify_client, verify_server=verify_server, method=method)


def phones_files(models, time_server, ca_file="ca.pem", port=phones.TLS_PORT, aes256=True, bothway=False,
                 client_cert_mode="shared", macs=None, client_common_name="mitel-phones"):
    return _wrap(phones.download_files, models, time_server, ca_file=ca_file, port=port, aes256=aes256,
                 bothway=bothway, client_cert_mode=client_cert_mode, macs=macs,
                 client_common_name=client_common_name)


class FilterModule(object):
    def filters(self):
        return {"device_paths": device_paths, "kamailio_tls_cfg": kamailio_tls_cfg,
                "opensips_tls_mgm": opensips_tls_mgm,
                "phones_files": phones_files}
