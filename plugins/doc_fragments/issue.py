# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Twin of module_utils/module_glue.py key_argument_spec(). The default key type differs per
    # module (a CA gets a bigger key), so each module states its own key_type default.
    DOCUMENTATION = r"""
options:
  key_type:
    description: Type of a new private key - RSA of 2048, 3072 or 4096 bits, or EC P-256.
    type: str
    choices: [rsa2048, rsa3072, rsa4096, ec-p256]
  digest:
    description:
      - Signature hash. SHA-1 is not offered; the cryptography library no longer signs with it.
    type: str
    choices: [sha256, sha384, sha512]
    default: sha256
"""

    # Twin of module_utils/module_glue.py lifetime_argument_spec(): certificates the Enterprise CA
    # signs for systems and devices. Each module states its own renew_before default.
    LIFETIME = r"""
options:
  validity_days:
    description:
      - Lifetime of a new certificate in days (the vendor's certificate tool gives 364). Never beyond the CA's end.
    type: int
    default: 364
  renew_before:
    description:
      - Renew when the certificate ends within this window - days (V(30), V(30d)) or a share of its
        lifetime (V(10%)).
    type: str
  force:
    description: Issue a new certificate whatever the renewal decision says (reason V(forced)).
    type: bool
    default: false
"""

    # Twin of module_utils/module_glue.py backup_argument_spec().
    BACKUP = r"""
options:
  backup:
    description: Keep a timestamped copy of files that are overwritten.
    type: bool
    default: false
"""
