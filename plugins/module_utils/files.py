# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File I/O for the modules: reads, atomic writes, and the staged ``Writer``.

``Writer`` takes the module (the AnsibleModule, or the in-process stand-in of
plugin_utils/in_process.py) for its check mode and backups only; the rest
is plain functions over paths and bytes.

Writes are atomic: a temporary file in the target directory is created
with its final mode (0600 for anything holding a key) before a byte is
written, then renamed over the target. A reader sees the old file or the
new one, never a part, and a key is never world-readable, not even for
the moment between create and chmod (which ``atomic_move`` would leave).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

KEY_MODE = 0o600
PUBLIC_MODE = 0o644
DIR_MODE = 0o700


def read_bytes(path):
    """The file's bytes, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MxonePkiError("cannot read %s: %s" % (path, exc.strerror), file=path)


def ensure_dir(path):
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, mode=DIR_MODE, exist_ok=True)  # another run may be making it at this moment


def write_atomic(path, content, mode):
    """Write ``content`` to ``path`` in one rename; clean up on any failure."""
    ensure_dir(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise MxonePkiError("cannot write %s: %s" % (path, exc.strerror), file=path)
        raise
    return path


class Writer(object):
    """Collects writes so a module does all of them only after every check passed.

    ``stage`` records what would change; ``commit`` writes (unless check
    mode), taking a backup first when asked. The module's ``changed`` is
    ``bool(writer.changed_paths)`` whether or not it ran in check mode.
    """

    def __init__(self, module, backup=False):
        self.module = module
        self.backup = backup
        self.pending = []
        self.backup_files = {}

    def stage(self, path, content, mode=PUBLIC_MODE):
        current = read_bytes(path)
        if current == content and self._mode_of(path) == mode:
            return False
        self.pending.append((path, content, mode, current is not None))
        return True

    @staticmethod
    def _mode_of(path):
        try:
            return os.stat(path).st_mode & 0o7777
        except OSError:
            return None

    @property
    def changed_paths(self):
        return [entry[0] for entry in self.pending]

    def commit(self):
        if self.module.check_mode:
            return
        for path, content, mode, existed in self.pending:
            if existed and self.backup and read_bytes(path) != content:
                self.backup_files[path] = self.module.backup_local(path)
            write_atomic(path, content, mode)
