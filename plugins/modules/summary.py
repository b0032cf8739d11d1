#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: summary
short_description: Print the per-system summary of a rollout as plain lines
version_added: 0.2.0
description:
  - Prints the table of P(mxone.pki.summary_table#filter) - per system the result, the certificate and why, the
    nodes changed, the commands (or, in check mode, those that would run), the outage and the TLS result - as
    plain lines on the output, so it reads the same under the default callback (JSON results), the YAML results
    and in AWX's job output.
  - This is an action plugin; the role M(mxone.pki.mxone_verify) calls it at the end of every rollout-type playbook.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.attributes
  - mxone.pki.attributes.check_only
options:
  summary:
    description: The per-system summary, as the filter P(mxone.pki.rollout_summary#filter) returns it.
    type: list
    elements: dict
    required: true
  title:
    description: The line printed above the table.
    type: str
    default: Per-system summary
"""

EXAMPLES = r"""
- name: Per-system summary
  mxone.pki.summary:
    summary: "{{ mxone_verify_summary }}"
  run_once: true
"""

RETURN = r"""
lines:
  description: The table's lines (header, rule, one row per system).
  returned: always
  type: list
  elements: str
"""
