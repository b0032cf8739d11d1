# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing files on a node in one SSH round trip, atomically, keeping the previous ones.

``install_script`` is a POSIX sh script; the payload (every file's bytes,
concatenated) goes on its standard input, never on the command line, so
key material is not visible in the node's process list. The script:

- unpacks each file into a private (0700) directory beside its target, so
  the final ``mv`` is a rename within one filesystem: a reader sees the
  old file or the new one, never a part;
- checks each unpacked file's SHA-256 against the controller's, so a
  truncated transfer is never installed;
- leaves a file alone when content and mode already match;
- copies the current file to ``<name>.previous`` before replacing it (the
  file to roll back to);
- installs nothing at all if any file fails to unpack (disk full, say):
  all files or none.

Its output is one ``MXONE <status> <path>`` line per file, with status
``unchanged``, ``missing``, ``content``, ``mode`` (or ``would-`` in check
mode) and, when asked, the current file's certificates (public) for a diff.
Only coreutils are needed on the node (sha256sum, mktemp, tail, head, stat).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

PREVIOUS_SUFFIX = ".previous"


def _dirname(path):
    return path.rsplit("/", 1)[0] or "/"


def _quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


class NodeFile(object):
    def __init__(self, path, content, mode):
        self.path = path
        self.content = content
        self.mode = mode

    @property
    def sha256(self):
        return hashlib.sha256(self.content).hexdigest()


def payload(files):
    return b"".join(f.content for f in files)


def install_script(files, check_mode=False, show_certs=False):
    """The sh script that installs ``files`` from the payload on stdin."""
    lines = [
        "set -u",
        "umask 077",
        "stage=",
        "cleanup() { [ -n \"$stage\" ] && rm -rf \"$stage\"; }",
        "trap cleanup EXIT",
        "trap 'exit 130' HUP INT TERM PIPE",
        "fail() { echo \"MXONE error $*\"; exit 1; }",
        # the payload holds a private key: stage it in a 0700 directory on the target's own filesystem
        "mkdir -p %s || fail 'no directory '%s" % (_quote(_dirname(files[0].path)), _quote(_dirname(files[0].path))),
        "stage=$(mktemp -d %s/.mxone-in.XXXXXX) || fail 'no space in '%s" % (
            _quote(_dirname(files[0].path)), _quote(_dirname(files[0].path))),
        "cat > \"$stage/payload\" || fail 'reading payload'",
        "cert() { [ -f \"$1\" ] && sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' \"$1\" "
        "| sed 's/^/MXONE-CERT /'; true; }",
    ]
    offset = 0
    for index, f in enumerate(files):
        target = _quote(f.path)
        mode = "%o" % f.mode
        work = "w%d" % index
        lines += [
            # unpack beside the target so the rename is atomic
            "d=$(dirname %s)" % target,
            "[ -d \"$d\" ] || mkdir -p \"$d\" || fail 'no directory for '%s" % target,
            "%s=$(mktemp -d \"$d/.mxone.XXXXXX\") || fail 'no space for '%s" % (work, target),
            "tail -c +%d \"$stage/payload\" | head -c %d > \"$%s/new\" || { rm -rf \"$%s\"; fail 'writing '%s; }"
            % (offset + 1, len(f.content), work, work, target),
            "set -- $(sha256sum \"$%s/new\")" % work,
            "[ \"$1\" = %s ] || { rm -rf \"$%s\"; fail 'transfer damaged for '%s; }" % (f.sha256, work, target),
            "chmod %s \"$%s/new\"" % (mode, work),
        ]
        offset += len(f.content)
    # all unpacked: decide and install, file by file
    lines.append("rc=0")
    for index, f in enumerate(files):
        target = _quote(f.path)
        mode = "%o" % f.mode
        work = "w%d" % index
        prefix = "would-" if check_mode else ""
        lines += [
            "status=unchanged",
            "if [ ! -f %s ]; then status=missing" % target,
            "else set -- $(sha256sum %s)" % target,
            "  if [ \"$1\" != %s ]; then status=content" % f.sha256,
            "  elif [ \"$(stat -c %%a %s)\" != %s ]; then status=mode; fi" % (target, mode),
            "fi",
        ]
        if show_certs:
            lines.append("[ \"$status\" = unchanged ] || cert %s" % target)
        if check_mode:
            lines.append("[ \"$status\" = unchanged ] || status=%s$status" % prefix)
        else:
            lines += [
                "if [ \"$status\" != unchanged ]; then",
                "  if [ -f %s ]; then cp -p %s %s || rc=1; fi" % (target, target, _quote(f.path + PREVIOUS_SUFFIX)),
                "  mv -f \"$%s/new\" %s || rc=1" % (work, target),
                "fi",
            ]
        lines += [
            "rm -rf \"$%s\"" % work,
            "echo \"MXONE $status \"%s" % target,
        ]
    lines.append("sync 2>/dev/null; exit $rc")
    return "\n".join(lines) + "\n"


def parse_output(stdout):
    """{path: status} and {path: [current certificate PEM text]} from the script's output."""
    statuses, certs, current = {}, {}, []
    error = None
    for line in stdout.splitlines():
        if line.startswith("MXONE-CERT "):
            current.append(line[len("MXONE-CERT "):])
        elif line.startswith("MXONE error "):
            error = line[len("MXONE error "):]
        elif line.startswith("MXONE "):
            status, _, path = line[len("MXONE "):].partition(" ")
            statuses[path] = status
            if current:
                certs[path] = "\n".join(current) + "\n"
                current = []
    return statuses, certs, error
