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
- owns the key bundle: it must be root:root with its mode (0600), else it is
  fixed (status ``owner`` or ``mode``); every other file (the CA file, the
  configuration files) keeps the owner, group and mode it has when it is
  replaced, and a new one gets its documented mode, owned by the account that
  writes it (root, through become);
- copies the current file to ``<name>.previous`` before replacing it (the
  file to roll back to). For the files of a system that is activated after
  delivery, the copy is made only when the file is not yet in the rollback
  list (``.mxone-rollback`` beside the bundle): ``.previous`` is then the
  file as it was at the last activation, and the list names exactly the
  files replaced since, which is what a rollback restores;
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


PENDING_MARKER = ".mxone-activation-pending"


def pending_marker(path):
    """The marker beside ``path`` that says: installed, not yet activated (reload not yet done)."""
    return "%s/%s" % (_dirname(path), PENDING_MARKER)


ROLLBACK_LIST = ".mxone-rollback"


def rollback_list(path):
    """Beside the bundle ``path``: the files replaced since the last activation, one path a line."""
    return "%s/%s" % (_dirname(path), ROLLBACK_LIST)


def _keep_previous(target, previous, listed):
    """sh lines: copy ``target`` to ``previous`` before it is replaced; with a rollback list ``listed``, only when
    the target is not listed yet (then list it), so that ``previous`` stays the activated version."""
    if not listed:
        return ["if [ -f %s ]; then cp -p %s %s || rc=1; fi" % (target, target, previous)]
    return ["if ! grep -qxF %s %s 2>/dev/null; then" % (target, listed),
            "  if [ -f %s ]; then cp -p %s %s || rc=1; else rm -f %s; fi" % (target, target, previous, previous),
            "  echo %s >> %s || rc=1" % (target, listed),
            "fi"]


class NodeFile(object):
    """A file for a node; ``content=None`` only looks at it (a check run whose new content is not made yet).

    With ``activation=True`` a new install leaves a marker beside the file until the activation
    (reload) has run; a later run that finds the file in place but the marker still there reports
    ``pending``, so an activation lost to a killed run is not lost for good.
    """

    def __init__(self, path, content, mode, activation=False, rollback=None, root_owned=False, digest=None):
        self.path = path
        self.content = content
        # a check run's file known by its SHA-256 only (the manifest's): compared on the node, never sent
        self.digest = digest
        self.mode = mode
        # True: must be root:root with ``mode`` (the key bundle); False: an existing file keeps its owner,
        # group and mode, and ``mode`` is for a new file only
        self.root_owned = root_owned
        self.activation = activation
        self.rollback = rollback  # the rollback list this file goes on when replaced (None: no rollback)

    @property
    def probe_only(self):
        return self.content is None and self.digest is None

    @property
    def sha256(self):
        return self.digest if self.content is None else hashlib.sha256(self.content).hexdigest()


def payload(files):
    return b"".join(f.content for f in files if f.content is not None)


def _status_lines(f, show_certs):
    """Set $status for one file: unchanged, missing, content or mode (nothing is written)."""
    target = _quote(f.path)
    if f.probe_only:
        lines = ["if [ -f %s ]; then status=reissue; else status=missing; fi" % target]
    else:
        lines = [
            "status=unchanged",
            "if [ ! -f %s ]; then status=missing" % target,
            "else set -- $(sha256sum %s)" % target,
            "  if [ \"$1\" != %s ]; then status=content" % f.sha256,
        ]
        if f.root_owned:
            lines += [
                "  elif [ \"$(stat -c %%u:%%g %s)\" != 0:0 ]; then status=owner" % target,
                "  elif [ \"$(stat -c %%a %s)\" != %o ]; then status=mode" % (target, f.mode),
            ]
        lines += ["  fi", "fi"]
        if f.activation:
            lines.append("[ \"$status\" = unchanged ] && [ -f %s ] && status=pending"
                         % _quote(pending_marker(f.path)))
    if show_certs:
        lines.append("[ \"$status\" = unchanged ] || cert %s" % target)
    return lines


_PRELUDE = [
    "set -u",
    "umask 077",
    "fail() { echo \"MXONE error $*\"; exit 1; }",
    "cert() { [ -f \"$1\" ] && sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' \"$1\" "
    "| sed 's/^/MXONE-CERT /'; true; }",
]


def check_script(files, show_certs=False, settings=()):
    """Check mode: compare the node's files with the wanted SHA-256 and mode; send nothing, write nothing."""
    lines = list(_PRELUDE) + ["rc=0"]
    for f in files:
        lines += _status_lines(f, show_certs)
        lines.append("[ \"$status\" = unchanged ] || status=would-$status")
        lines.append("echo \"MXONE $status \"%s" % _quote(f.path))
    lines += _settings_lines(settings, check_mode=True)
    return "\n".join(lines) + "\nexit $rc\n"


def install_script(files, show_certs=False, settings=(), rollback=None):
    """The sh script that installs ``files`` from the payload on its stdin, then applies ``settings``."""
    first_dir = _quote(_dirname(files[0].path))
    lines = list(_PRELUDE) + [
        "stage=",
        "cleanup() { [ -n \"$stage\" ] && rm -rf \"$stage\"; }",
        "trap cleanup EXIT",
        "trap 'exit 130' HUP INT TERM PIPE",
        # the payload holds a private key: stage it in a 0700 directory on the target's own filesystem
        "mkdir -p %s || fail 'no directory '%s" % (first_dir, first_dir),
        # staging left by a run that was killed (the run lock keeps two runs from one node at a time)
        "rm -rf %s/.mxone-in.* %s/.mxone.* 2>/dev/null" % (first_dir, first_dir),
        "stage=$(mktemp -d %s/.mxone-in.XXXXXX 2>&1) || fail \"staging in \"%s\": $stage\"" % (first_dir, first_dir),
        # errors are captured in memory: on a full disk there is no room to write them down
        "e=$( { cat > \"$stage/payload\"; } 2>&1 ) || fail \"writing in \"%s\": $e\"" % first_dir,
    ]
    offset = 0
    for index, f in enumerate(files):
        target = _quote(f.path)
        work = "w%d" % index
        lines += [
            # unpack beside the target so the rename is atomic
            "d=$(dirname %s)" % target,
            "[ -d \"$d\" ] || mkdir -p \"$d\" || fail 'no directory for '%s" % target,
            "[ \"$d\" = %s ] || rm -rf \"$d\"/.mxone.* 2>/dev/null" % first_dir,
            "%s=$(mktemp -d \"$d/.mxone.XXXXXX\" 2>&1) || fail \"staging \"%s\": $%s\"" % (work, target, work),
            "e=$( { tail -c +%d \"$stage/payload\" | head -c %d > \"$%s/new\"; } 2>&1 ) "
            "|| { rm -rf \"$%s\"; fail \"writing \"%s\": $e\"; }" % (offset + 1, len(f.content), work, work, target),
            "set -- $(sha256sum \"$%s/new\")" % work,
            "[ \"$1\" = %s ] || { rm -rf \"$%s\"; fail 'transfer damaged for '%s; }" % (f.sha256, work, target),
            "chmod %o \"$%s/new\"" % (f.mode, work),
            _ownership_line(f, target, "$%s/new" % work),
        ]
        offset += len(f.content)
    # every file unpacked and checked: now decide and install, file by file
    lines.append("rc=0")
    for index, f in enumerate(files):
        target = _quote(f.path)
        work = "w%d" % index
        lines += _status_lines(f, show_certs) + [
            "if [ \"$status\" != unchanged ] && [ \"$status\" != pending ]; then",
        ] + ["  " + line for line in _keep_previous(target, _quote(f.path + PREVIOUS_SUFFIX),
                                                    f.rollback and _quote(f.rollback))] + [
            # the marker first: if the run dies right after the rename, the next run still activates
            ("  : > %s || rc=1" % _quote(pending_marker(f.path))) if f.activation else "  :",
            "  mv -f \"$%s/new\" %s || rc=1" % (work, target),
            "fi",
            "rm -rf \"$%s\"" % work,
            "echo \"MXONE $status \"%s" % target,
        ]
    lines += _settings_lines(settings, rollback=rollback)
    lines.append("sync 2>/dev/null; exit $rc")
    return "\n".join(lines) + "\n"


def _ownership_line(f, target, new):
    """sh: give the unpacked file ``new`` its owner: root:root, or the current file's owner, group and mode."""
    if f.root_owned:
        return "chown 0:0 \"%s\" || fail 'cannot make '%s' owned by root:root'" % (new, target)
    return ("if [ -f %s ]; then chown \"$(stat -c %%u:%%g %s)\" \"%s\" && chmod \"$(stat -c %%a %s)\" \"%s\" "
            "|| fail 'cannot keep the owner and mode of '%s; fi" % (target, target, new, target, new, target))


def parse_output(stdout, old_values=None):
    """{path: status} and {path: [current certificate PEM text]} from the script's output.

    ``old_values``, when given, gets {setting label: its value before the run} (empty when the key was absent).
    """
    statuses, certs, current = {}, {}, []
    error = None
    for line in stdout.splitlines():
        if line.startswith("MXONE-OLD ") and old_values is not None:
            value, dummy, label = line[len("MXONE-OLD "):].rpartition(" ")
            old_values[label] = value
        elif line.startswith("MXONE-CERT "):
            current.append(line[len("MXONE-CERT "):])
        elif line.startswith("MXONE error "):
            error = line[len("MXONE error "):]
        elif line.startswith("MXONE "):
            status, dummy, path = line[len("MXONE "):].partition(" ")
            statuses[path] = status
            if current:
                certs[path] = "\n".join(current) + "\n"
                current = []
    return statuses, certs, error


def restore_script(bundle_path):
    """Put back exactly the files replaced since the last activation (the rollback list beside ``bundle_path``).

    Each is restored from ``<path>.previous`` (copy, then rename: atomic). Prints ``MXONE restored <path>``
    (after the bundle's certificates, never its key) or ``MXONE no-previous <path>`` (the file was new).
    The list and the pending marker go: the restored files are the running ones.
    """
    listed, bundle = _quote(rollback_list(bundle_path)), _quote(bundle_path)
    lines = list(_PRELUDE) + [
        "rc=0",
        "if [ -f %s ]; then" % listed,
        "  while IFS= read -r p; do",
        "    [ -n \"$p\" ] || continue",
        "    if [ -f \"$p%s\" ]; then" % PREVIOUS_SUFFIX,
        "      if t=$(mktemp \"$p.XXXXXX\") && cp -p \"$p%s\" \"$t\" && mv -f \"$t\" \"$p\"; then" % PREVIOUS_SUFFIX,
        "        [ \"$p\" = %s ] && cert \"$p\"" % bundle,
        "        echo \"MXONE restored $p\"",
        "      else rm -f \"$t\"; rc=1; echo \"MXONE error restoring $p\"; fi",
        "    else echo \"MXONE no-previous $p\"; fi",
        "  done < %s" % listed,
        "fi",
        "[ $rc = 0 ] && rm -f %s %s" % (listed, _quote(pending_marker(bundle_path))),
        "sync 2>/dev/null; exit $rc",
    ]
    return "\n".join(lines) + "\n"


def activated_script(path):
    """After a successful activation: the bundle at ``path`` is the one running; drop its marker and rollback list."""
    marker, listed = _quote(pending_marker(path)), _quote(rollback_list(path))
    return "\n".join(list(_PRELUDE) + ["rm -f %s %s || fail 'cannot remove '%s" % (marker, listed, marker),
                                       "echo \"MXONE activated \"%s" % _quote(path)]) + "\n"


class Setting(object):
    """One ``Key: value`` line in a node's configuration file (MX-ONE's *.conf style)."""

    def __init__(self, path, key, value):
        self.path = path
        self.key = key
        self.value = value

    @property
    def label(self):
        return "%s#%s" % (self.path, self.key)


def _settings_lines(settings, check_mode=False, rollback=None):
    """Set each ``Key: value`` line: other lines kept, the key's old lines replaced by one.

    Each file is rewritten through a temporary file and a rename (atomic), its
    owner, group and mode kept and the old file kept as ``.previous``. Prints
    ``MXONE <status> <path>#<key>`` with status unchanged, missing or content
    (``would-`` in check mode).
    """
    lines = []
    for setting in settings:
        target = _quote(setting.path)
        key_re = "^[[:space:]]*%s[[:space:]]*[:=]" % setting.key
        want = "%s: %s" % (setting.key, setting.value)
        lines += [
            # the value now, for the diff and the reason (configuration values are not secret)
            "old=$(grep -E %s %s 2>/dev/null | tail -n 1 | sed -e 's/^[^:=]*[:=][[:space:]]*//' -e 's/[[:space:]]*$//')"
            % (_quote(key_re), target),
            "echo \"MXONE-OLD $old \"%s" % _quote(setting.label),
            "if [ ! -f %s ]; then status=missing" % target,
            "elif [ \"$(grep -Ec %s %s)\" = 1 ] && grep -Eq %s %s; then status=unchanged"
            % (_quote(key_re), target, _quote(key_re + "[[:space:]]*%s[[:space:]]*$" % setting.value), target),
            "else status=content; fi",
        ]
        if check_mode:
            lines.append("[ \"$status\" = unchanged ] || status=would-$status")
        else:
            lines += [
                "if [ \"$status\" != unchanged ]; then",
                "  mkdir -p \"$(dirname %s)\" && t=$(mktemp %s.XXXXXX) || { rc=1; status=error; }" % (target, target),
                "  if [ \"$status\" != error ]; then",
                "    { [ -f %s ] && grep -Ev %s %s; echo %s; } > \"$t\" || rc=1" % (
                    target, _quote(key_re), target, _quote(want)),
                # the file keeps its owner, group and mode; a new one is 0644
                "    if [ -f %s ]; then chown \"$(stat -c %%u:%%g %s)\" \"$t\" && chmod \"$(stat -c %%a %s)\" \"$t\" "
                "|| rc=1; else chmod 644 \"$t\"; fi" % (target, target, target),
            ] + ["    " + line for line in _keep_previous(
                target, _quote(setting.path + PREVIOUS_SUFFIX), rollback and _quote(rollback))] + [
                "    [ $rc = 0 ] && mv -f \"$t\" %s || { rm -f \"$t\"; rc=1; status=error; }" % target,
                "  fi",
                "fi",
            ]
        lines.append("echo \"MXONE $status \"%s" % _quote(setting.label))
    return lines
