# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Twin of module_utils/module_glue.py ca_argument_spec().
    DOCUMENTATION = r"""
options:
  ca_cert_path:
    description: Path on the controller of the MX-ONE Enterprise CA certificate (PEM).
    type: path
    required: true
  ca_key_path:
    description:
      - Path on the controller of the CA private key, PKCS#8 PEM encrypted with O(ca_passphrase).
      - The CA key never leaves the controller.
    type: path
    required: true
  ca_passphrase:
    description:
      - Passphrase of the CA private key. Keep it in Ansible Vault.
    type: str
    required: true
"""

    # Twin of module_utils/module_glue.py names_argument_spec().
    NAMES = r"""
options:
  domain:
    description:
      - The MX-ONE system's DNS sub-domain (C(mxone_domain)); LIM N is named C(lim<N>.<domain>).
      - Must be a valid DNS name with at least two labels.
    type: str
    required: true
  lims:
    description:
      - Every LIM of the system. Each LIM's FQDN becomes a SAN DNS entry and its IP a SAN IP entry.
    type: list
    elements: dict
    required: true
    suboptions:
      lim:
        description: The LIM number (C(mxone_lim)), an integer of 1 or more, unique in the system.
        type: raw
        required: true
      ip:
        description: The LIM's IP address (C(mxone_lim_ip)).
        type: str
      host:
        description: Inventory host name of the LIM, used in messages only.
        type: str
  lim:
    description:
      - Make a certificate for this one LIM (CN C(lim<N>.<domain>)) instead of the system's wildcard
        certificate (CN C(*.<domain>)) that all LIMs share.
    type: int
  extra_dns:
    description: Extra SAN DNS names (C(mxone_extra_dns)), for example a SIP domain set up with C(sip_domain).
    type: list
    elements: str
    default: []
  extra_ips:
    description: Extra SAN IP addresses (C(mxone_extra_ips)).
    type: list
    elements: str
    default: []
  common_name:
    description:
      - V(name) - the CN is C(*.<domain>) (system certificate) or C(lim<N>.<domain>) (with O(lim)).
      - V(ip) - the CN is the LIM's IP address, for sites without DNS (C(mxone_cert_common_name)); the SAN is the
        same. Only for a certificate of one LIM.
    type: str
    choices: [name, ip]
    default: name
"""
