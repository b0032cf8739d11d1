# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One error type for everything mxone.pki refuses.

It carries *where* the problem is (host, file, field) besides *what* it is,
so a module can hand all three to ``fail_json`` and a user with fifty
systems knows which one to fix. Messages never contain key material.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class MxonePkiError(Exception):
    def __init__(self, msg, host=None, file=None, field=None):
        super(MxonePkiError, self).__init__(msg)
        self.msg = msg
        self.host = host
        self.file = file
        self.field = field

    def where(self, host=None, file=None, field=None):
        """Fill in location fields the raiser did not know; keep the ones it did."""
        self.host = self.host or host
        self.file = self.file or file
        self.field = self.field or field
        return self

    def context(self):
        return dict((k, v) for k, v in (("host", self.host), ("file", self.file), ("field", self.field)) if v)

    def __str__(self):
        parts = ["%s=%s" % (k, v) for k, v in sorted(self.context().items())]
        return "%s (%s)" % (self.msg, ", ".join(parts)) if parts else self.msg
