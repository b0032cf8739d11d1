"""Hardened nodes (issue 15): root cannot log in; the product logs in as an individual account and becomes
root with su or sudo, however the operator sets it; the connection settings of every host are honoured by
the fleet-wide actions (delivery and activation reach every node from one task).

One lab (1 system x 1 LIM + 1 download server, reload 0.5 s) serves the module. Each cell of the become
matrix first takes the LIM's ca.pem away (on the node's own file system, as a stray edit would), so every
run must write a file as root and activate (media_encryption_enable, data_backup, reload) through become.
The lab's journal says which account logged in and as whom each vendor command ran.
"""

import json
import os
import subprocess
import sysconfig

import pytest
import yaml

from helpers import BIN, ROOT, LabFleet, ansible_env, lab, run_playbook

NET = "127.%d" % (110 + os.getpid() % 10)
SSH_PORT, HTTP_PORT = 3322, 8380
ROLLOUT = os.path.join(ROOT, "playbooks", "rollout.yml")
ACTIVATION = ["media_encryption_enable -type extension", "data_backup", "reload --system"]
# what the lab writes into its inventory for the connection and become; a cell puts them elsewhere
ACCESS_VARS = ("ansible_user", "ansible_become", "ansible_become_method", "ansible_become_password")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


class Fleet(LabFleet):
    def __init__(self, base):
        super(Fleet, self).__init__(base)
        self.pki = str(base / "pki")  # one PKI store for every cell's inventory
        self.cells = base / "cells"

    def lab_vars(self):
        """The lab's inventory and secrets, as data."""
        with open(self.lab_inventory) as handle:
            inventory = yaml.safe_load(handle)
        with open(os.path.join(os.path.dirname(self.lab_inventory), "group_vars", "all", "lab_secrets.yml")) as handle:
            secrets = yaml.safe_load(handle)
        return inventory, secrets

    def cell_inventory(self, name, all_vars=None, group_vars=None, host_vars=None, keep=()):
        """An inventory of the lab without its access settings (but those in ``keep``), plus ``all_vars`` in the
        inventory file, ``group_vars`` in group_vars/all and ``host_vars`` {host: vars} in host_vars/."""
        inventory, secrets = self.lab_vars()
        lab_all = inventory["all"]["vars"]
        for name_ in ACCESS_VARS:
            if name_ not in keep:
                lab_all.pop(name_, None)
        if "ansible_become_password" in keep:
            lab_all["ansible_become_password"] = secrets["ansible_become_password"]
        lab_all.update(all_vars or {})
        lab_all.update(mxone_pki_dir=self.pki, mxone_ca_passphrase=secrets["mxone_ca_passphrase"])
        directory = self.cells / name
        (directory / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
        (directory / "host_vars").mkdir(exist_ok=True)
        write_secret(directory / "hosts.yml", yaml.dump(inventory, Dumper=InventoryDumper))
        if group_vars:
            write_secret(directory / "group_vars" / "all" / "access.yml", yaml.safe_dump(group_vars))
        for host, values in (host_vars or {}).items():
            write_secret(directory / "host_vars" / ("%s.yml" % host), yaml.safe_dump(values))
        return str(directory / "hosts.yml")

    def secret_file(self, name, text):
        path = self.cells / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_secret(path, text)
        return str(path)

    def run(self, inventory, *args, playbook=ROLLOUT, env=None, **env_extra):
        return run_playbook(playbook, inventory=inventory, args=args,
                            env=env or ansible_env(ANSIBLE_HOST_KEY_CHECKING="false", **env_extra))

    def lim(self):
        return self.status()["lab1-lim1"]

    def take_ca_pem_away(self):
        """A stray edit on the node: the next rollout must write ca.pem again, as root, and activate."""
        path = os.path.join(self.lim()["eri_sn"], "certs", "ca.pem")
        if os.path.exists(path):  # (a test run alone starts from an empty node)
            os.unlink(path)

    def new_commands(self, since):
        return [e for e in self.journal_entries("lab1") if "command" in e][since:]

    def command_count(self):
        return len([e for e in self.journal_entries("lab1") if "command" in e])


def write_secret(path, text):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


class Vaulted(str):
    """A vault-encrypted value, written as a !vault string."""


class InventoryDumper(yaml.SafeDumper):
    pass


def represent_vaulted(dumper, value):
    return dumper.represent_scalar("!vault", str(value), style="|")


InventoryDumper.add_representer(Vaulted, represent_vaulted)


def vault_string(fleet, value):
    """``value`` encrypted with ansible-vault (its password file in the cells dir), and that file."""
    vault_password = fleet.secret_file("vault-password", "lab vault password\n")
    proc = subprocess.run([os.path.join(BIN, "ansible-vault"), "encrypt_string", "--vault-password-file",
                           vault_password, "--stdin-name", "ansible_become_password"],
                          input=value, capture_output=True, text=True, check=True, env=ansible_env())
    # "ansible_become_password: !vault |" then the indented $ANSIBLE_VAULT lines
    return Vaulted("\n".join(line.strip() for line in proc.stdout.splitlines()[1:] if line.strip()) + "\n"), \
        vault_password


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("access"))
    with f.running(1, 1, 1, NET, SSH_PORT, HTTP_PORT, reload_seconds=0.5):
        yield f


def test_the_lab_refuses_root_and_the_product_rolls_out_through_su(fleet):
    refused = fleet.ssh("lab1-lim1", "id -un", user="root")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr
    inventory, secrets = fleet.lab_vars()
    assert inventory["all"]["vars"]["ansible_user"] == "ops1"
    assert inventory["all"]["vars"]["ansible_become_method"] == "su"
    assert "ansible_become_password" in secrets
    since = fleet.command_count()
    run = fleet.run(fleet.cell_inventory("first", keep=ACCESS_VARS))
    assert run.rc == 0, run.output
    ran = fleet.new_commands(since)
    assert [e["command"] for e in ran] == ["license_status"] + ACTIVATION
    assert set((e["user"], e["as"]) for e in ran) == {("ops1", "root")}
    bundle = os.path.join(fleet.lim()["eri_sn"], "certs", "eri_sn_cert.pem")
    info = os.stat(bundle)
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (0, 0, 0o600)


def become_settings(fleet, method, user="ops1"):
    """(remote user, become method, become password) for a cell: su asks for root's password, sudo for the
    account's own."""
    passwords = fleet.passwords()
    return user, method, passwords["root"] if method == "su" else passwords[user]


def access_vars(user, method, password):
    return dict(ansible_user=user, ansible_become=True, ansible_become_method=method,
                ansible_become_password=password)


def cell_inventory_file(fleet, cell, user, method, password):
    vaulted, vault_password = vault_string(fleet, password)
    inventory = fleet.cell_inventory(cell, all_vars=dict(access_vars(user, method, vaulted)))
    return inventory, ("--vault-password-file", vault_password), {}


def cell_group_vars(fleet, cell, user, method, password):
    return fleet.cell_inventory(cell, group_vars=access_vars(user, method, password)), (), {}


def cell_play_vars(fleet, cell, user, method, password):
    password_file = fleet.secret_file("%s/become-password" % cell, password)
    play = fleet.cells / cell / "play.yml"
    play.parent.mkdir(parents=True, exist_ok=True)
    play.write_text(yaml.safe_dump([{
        "import_playbook": "mxone.pki.rollout",
        "vars": dict(ansible_user=user, ansible_become=True, ansible_become_method=method,
                     ansible_become_password="{{ lookup('ansible.builtin.file', '%s') }}" % password_file)}]))
    return fleet.cell_inventory(cell), (), dict(playbook=str(play))


def cell_extra_vars(fleet, cell, user, method, password):
    extra = fleet.secret_file("%s/extra-vars.yml" % cell, yaml.safe_dump(access_vars(user, method, password)))
    return fleet.cell_inventory(cell), ("-e", "@" + extra), {}


def cell_cli_flags(fleet, cell, user, method, password):
    password_file = fleet.secret_file("%s/become-password" % cell, password + "\n")
    return fleet.cell_inventory(cell), ("-u", user, "-b", "--become-method", method,
                                        "--become-password-file", password_file), {}


def cell_ansible_cfg(fleet, cell, user, method, password):
    password_file = fleet.secret_file("%s/become-password" % cell, password + "\n")
    with open(os.path.join(ROOT, "ansible.cfg")) as handle:
        base = handle.read()
    config = fleet.cells / cell / "ansible.cfg"
    config.write_text(base.replace("[defaults]\n", "[defaults]\nremote_user = %s\nbecome_password_file = %s\n"
                                   % (user, password_file), 1)
                      + "\n[privilege_escalation]\nbecome = true\nbecome_method = %s\n" % method)
    inventory = fleet.cell_inventory(cell)
    return inventory, (), dict(env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_CONFIG=str(config)))


WAYS = dict(inventory_vault=cell_inventory_file, group_vars=cell_group_vars, play_vars=cell_play_vars,
            extra_vars=cell_extra_vars, cli_flags=cell_cli_flags, ansible_cfg=cell_ansible_cfg)
MATRIX = [(way, method) for way in WAYS for method in ("su", "sudo")] + [("group_vars", "sudo-mxone_admin")]


@pytest.mark.parametrize("way, method", MATRIX)
def test_become_matrix(fleet, way, method):
    user = "mxone_admin" if method.endswith("mxone_admin") else "ops1"
    method = method.split("-")[0]
    cell = "%s-%s-%s" % (way, method, user)
    inventory, args, extra = WAYS[way](fleet, cell, *become_settings(fleet, method, user))
    fleet.take_ca_pem_away()
    since = fleet.command_count()
    run = fleet.run(inventory, *args, **extra)
    assert run.rc == 0, run.output[-4000:]
    assert run.recap["lab1-lim1"]["changed"] >= 1
    ran = fleet.new_commands(since)
    assert [e["command"] for e in ran] == ["license_status"] + ACTIVATION, ran
    assert set((e["user"], e["as"]) for e in ran) == {(user, "root")}, ran
    assert os.path.exists(os.path.join(fleet.lim()["eri_sn"], "certs", "ca.pem"))
    fleet.wait_tls(["lab1-lim1"])
    for password in fleet.passwords().values():
        assert password not in run.output


def test_without_the_command_path_sudo_finds_no_vendor_command_and_nothing_changes(fleet):
    user, method, password = become_settings(fleet, "sudo")
    inventory = fleet.cell_inventory("no-command-path", group_vars=dict(
        access_vars(user, method, password), mxone_command_path=""))
    fleet.take_ca_pem_away()
    before = fleet.node_hashes()
    run = fleet.run(inventory)
    assert run.rc != 0
    assert "license_status on lab1-lim1 failed (exit 127 (command not found: set mxone_command_path" in run.output
    assert fleet.node_hashes() == before
    fixed = fleet.run(fleet.cell_inventory("command-path-back", group_vars=access_vars(user, method, password)))
    assert fixed.rc == 0, fixed.output[-3000:]
    fleet.wait_tls(["lab1-lim1"])


def test_host_vars_beat_wrong_group_settings_for_port_and_key(fleet):
    """ansible_port and ansible_ssh_private_key_file from host_vars, over wrong values for the whole fleet."""
    right_key = fleet.cells / "keys" / "operator_rsa"
    right_key.parent.mkdir(parents=True, exist_ok=True)
    right_key.write_bytes(open(os.path.join(fleet.state, "ssh", "id_rsa"), "rb").read())
    right_key.chmod(0o600)
    hosts = list(fleet.status())
    inventory = fleet.cell_inventory(
        "host-vars", keep=ACCESS_VARS,
        all_vars=dict(ansible_port=1, ansible_ssh_private_key_file=str(fleet.cells / "keys" / "missing")),
        host_vars=dict((host, dict(ansible_port=SSH_PORT, ansible_ssh_private_key_file=str(right_key)))
                       for host in hosts))
    fleet.take_ca_pem_away()
    since = fleet.command_count()
    run = fleet.run(inventory)
    assert run.rc == 0, run.output[-4000:]
    assert [e["command"] for e in fleet.new_commands(since)] == ["license_status"] + ACTIVATION
    fleet.wait_tls(["lab1-lim1"])


def test_a_jump_host_carries_every_connection_to_the_lims(fleet):
    """The download server is the bastion: the LIM is reached only through it (ansible_ssh_common_args)."""
    bastion = fleet.status()["dl1"]
    key = os.path.join(fleet.state, "ssh", "id_rsa")
    proxy = ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ProxyCommand=\"ssh -W %%h:%%p -i %s "
             "-p %d -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes ops1@%s\""
             % (key, SSH_PORT, bastion["ip"]))
    inventory = fleet.cell_inventory("jump", keep=ACCESS_VARS)
    with open(inventory) as handle:
        data = yaml.safe_load(handle)
    data["all"]["children"]["mxone_systems"]["vars"] = dict(ansible_ssh_common_args=proxy)
    write_secret(inventory, yaml.safe_dump(data))
    env = ansible_env(ANSIBLE_HOST_KEY_CHECKING="false",
                      ANSIBLE_SSH_CONTROL_PATH_DIR=str(fleet.cells / "jump" / "cp"))
    fleet.take_ca_pem_away()
    since = fleet.command_count()
    run = fleet.run(inventory, env=env)
    assert run.rc == 0, run.output[-4000:]
    assert [e["command"] for e in fleet.new_commands(since)] == ["license_status"] + ACTIVATION
    fleet.wait_tls(["lab1-lim1"])
    lab(fleet.state, "fault", "dl1", "down")  # the bastion is gone: the LIM, though up, cannot be reached
    try:
        cut_off = fleet.run(inventory, "--check", "-l", "mxone_systems", env=env)
        assert cut_off.rc != 0
        assert cut_off.recap["lab1-lim1"]["unreachable"] == 1 or "UNREACHABLE" in cut_off.output, cut_off.output[-3000:]
    finally:
        lab(fleet.state, "fault", "dl1", "clear")


def test_the_bundle_is_made_root_owned_and_the_other_files_keep_their_owner_group_and_mode(fleet):
    with open(os.path.join(fleet.state, "lab.json")) as handle:
        accounts = json.load(handle)["accounts"]
    admin, ops = accounts["mxone_admin"], accounts["ops1"]
    status = fleet.status()
    certs = os.path.join(status["lab1-lim1"]["eri_sn"], "certs")
    bundle, conf = os.path.join(certs, "eri_sn_cert.pem"), os.path.join(status["lab1-lim1"]["eri_sn"], "ip_telephony.conf")
    site_owned = [os.path.join(certs, "ca.pem"), conf, os.path.join(status["dl1"]["download_dir"], "ca.pem")]
    for path in site_owned:  # the site's own owner and mode, and a stray edit the run must undo
        os.chown(path, admin["uid"], admin["gid"])
        os.chmod(path, 0o640)
        with open(path) as handle:
            text = handle.read()
        with open(path, "w") as handle:
            handle.write(text.replace("TlsClientVerificationMode: none", "TlsClientVerificationMode: optional")
                         if path == conf else text + "# a stray line\n")
    os.chown(bundle, ops["uid"], ops["gid"])  # a bundle gone astray
    inventory = fleet.cell_inventory("ownership", keep=ACCESS_VARS,
                                     host_vars={"lab1-lim1": dict(mxone_tls_client_verification="none")})
    run = fleet.run(inventory)
    assert run.rc == 0, run.output[-4000:]
    assert "eri_sn_cert.pem owner -> root:root" in run.output
    assert "ip_telephony.conf TlsClientVerificationMode optional -> none" in run.output
    info = os.stat(bundle)
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (0, 0, 0o600)
    for path in site_owned:
        info = os.stat(path)
        assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (admin["uid"], admin["gid"], 0o640), path
        assert "stray" not in open(path).read() and "optional" not in open(path).read(), path
    fleet.wait_tls(["lab1-lim1"])


def test_a_play_with_a_local_connection_runs_on_the_node_itself(fleet):
    """ansible_connection: local set on the play, the controller running on the LIM (in its namespace)."""
    # The node has its own /root and /home, which hide a controller Python installed there (pyenv): the
    # node's system Python runs this same Ansible from the test environment's site-packages.
    purelib = sysconfig.get_paths()["purelib"]
    hidden = [p for p in (ROOT, BIN, purelib) if p.startswith(("/root/", "/home/"))]
    if hidden:
        pytest.skip("%s is under /root or /home, which every lab node replaces with its own" % hidden[0])
    with open(os.path.join(fleet.state, "nodes", "lab1-lim1", "run.json")) as handle:
        sshd_pid = json.load(handle)["pid"]
    play = fleet.cells / "local" / "play.yml"
    play.parent.mkdir(parents=True, exist_ok=True)
    play.write_text(yaml.safe_dump([{"import_playbook": "mxone.pki.rollout",
                                     "vars": {"ansible_connection": "local"}}]))
    inventory = fleet.cell_inventory("local")
    fleet.take_ca_pem_away()
    since = fleet.command_count()
    cmd = ["nsenter", "--mount=/proc/%d/ns/mnt" % sshd_pid, "--", "/usr/bin/python3",
           os.path.join(BIN, "ansible-playbook"), "-i", inventory, str(play), "-l", "mxone_systems"]
    env = ansible_env(PYTHONPATH=purelib, ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    ran = fleet.new_commands(since)
    assert [e["command"] for e in ran] == ["license_status"] + ACTIVATION
    assert set(e["as"] for e in ran) == {"root"}
    assert os.path.exists(os.path.join(fleet.lim()["eri_sn"], "certs", "ca.pem"))
    fleet.wait_tls(["lab1-lim1"])
