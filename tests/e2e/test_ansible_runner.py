"""AWX runs a job (issue 17): ``ansible-runner run`` on a private data directory laid out as AWX lays it out.

The collection sits where an execution environment has it (built and installed from its tarball, found through
``ANSIBLE_COLLECTIONS_PATH`` in env/envvars); the project holds a playbook that imports ``mxone.pki.rollout`` and
the CA passphrase in a vaulted group_vars file; the inventory is the lab's without the key file and the access
settings; the Machine credential becomes ``-u ops1 -b --become-method su --ask-become-pass`` in env/cmdline with the
answer in env/passwords and the key in env/ssh_key (ansible-runner loads it into an ssh-agent); the Vault credential
answers ``--ask-vault-pass``. The PKI store lives outside the private data directory (AWX throws that away).

One lab (1 system x 2 LIMs + 1 download server, reload 0.5 s), three jobs: the first (at verbosity 3) changes the
system, the second nothing, the third meets a trial licence and fails; and one plain ansible-playbook run of
verify.yml that shows the same data in its custom stats. Each job's result is read back from its events, as AWX reads
it: the ``playbook_on_stats`` event carries the ``set_stats`` data (``mxone_pki``). Afterwards no secret is in any
file of the private data directory but the two inputs that hold them on purpose.
"""

import glob
import json
import os
import subprocess

import pytest
import yaml

from helpers import BIN, ROOT, LabFleet, ansible_env, lab, run_playbook

NET = "127.%d" % (130 + os.getpid() % 10)
SSH_PORT, HTTP_PORT = 3522, 8580
ACTIVATION = ["media_encryption_enable -type extension", "data_backup", "reload --system"]
LIMS = ["lab1-lim1", "lab1-lim2"]
# AWX's own prompts-to-answers for the Machine and Vault credentials (awx/main/tasks/jobs.py)
BECOME_PROMPT, VAULT_PROMPT = r"BECOME password.*:\s*?$", r"Vault password:\s*?$"
# the inputs that hold a secret on purpose (AWX writes them, and removes the whole directory after the job)
SECRET_INPUTS = ("env/passwords", "env/ssh_key")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


def write_secret(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


class Fleet(LabFleet):
    def __init__(self, base):
        super(Fleet, self).__init__(base)
        self.pki = str(base / "pki-store")  # persistent storage in AWX: outlives every job's private data dir
        self.collections = str(base / "ee" / "collections")  # where the EE has the collection installed
        self.vault_password = "vault password of the AWX credential"

    def fault(self, target, kind):
        lab(self.state, "fault", target, kind)

    def lab_secrets(self):
        path = os.path.join(os.path.dirname(self.lab_inventory), "group_vars", "all", "lab_secrets.yml")
        with open(path) as handle:
            return yaml.safe_load(handle)

    def secrets(self):
        """Every secret of the lab and of the jobs, by what it is."""
        values = dict(("%s password" % user, password) for user, password in self.passwords().items())
        values.update(ca_passphrase=self.lab_secrets()["mxone_ca_passphrase"], vault_password=self.vault_password)
        with open(os.path.join(self.state, "ssh", "id_rsa")) as handle:
            key = handle.read()
        values["ssh key"] = "".join(key.splitlines()[1:-1])[:64]  # a piece of its body, not the PEM frame
        return values

    def install_collection(self):
        """As an EE has it: the collection built into its tarball and installed from it."""
        dist = os.path.join(os.path.dirname(self.collections), "dist")
        env = ansible_env(ANSIBLE_COLLECTIONS_PATH=self.collections)  # not the checkout's .collections
        for cmd in (["ansible-galaxy", "collection", "build", "--output-path", dist, ROOT],
                    ["ansible-galaxy", "collection", "install", "--offline", "-p", self.collections]):
            if cmd[2] == "install":
                cmd.append(glob.glob(os.path.join(dist, "mxone-pki-*.tar.gz"))[0])
            proc = subprocess.run([os.path.join(BIN, cmd[0])] + cmd[1:], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=300, check=False)
            assert proc.returncode == 0, proc.stdout + proc.stderr

    def private_data_dir(self, name, verbosity=0):
        """A job's private data directory, laid out as AWX lays it out (``verbosity``: the job template's)."""
        pdd = self.base / name
        project = pdd / "project"
        project.mkdir(parents=True)
        # the CA passphrase as the project keeps it: vaulted (the Vault credential opens it), in the play's vars
        # (group_vars beside site.yml would not reach the plays it imports from the collection)
        password_file = self.base / "vault-password"
        write_secret(password_file, self.vault_password + "\n")
        proc = subprocess.run([os.path.join(BIN, "ansible-vault"), "encrypt_string", "--vault-password-file",
                               str(password_file), "--stdin-name", "mxone_ca_passphrase"],
                              input=self.lab_secrets()["mxone_ca_passphrase"], env=ansible_env(), capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        vaulted = "\n".join("      " + line for line in proc.stdout.strip().splitlines())
        (project / "site.yml").write_text("---\n- name: Roll out MX-ONE TLS certificates (AWX job template)\n"
                                          "  ansible.builtin.import_playbook: mxone.pki.rollout\n  vars:\n"
                                          + vaulted + "\n")
        # the inventory source: the lab's, without the key file (the agent has the key) and the access settings
        # (the Machine credential gives them); the become password never was in it
        with open(self.lab_inventory) as handle:
            inventory = yaml.safe_load(handle)
        for name_ in ("ansible_ssh_private_key_file", "ansible_user", "ansible_become", "ansible_become_method",
                      "ansible_become_password"):
            inventory["all"]["vars"].pop(name_, None)
        (pdd / "inventory").mkdir()
        (pdd / "inventory" / "hosts").write_text(yaml.safe_dump(inventory))
        env = pdd / "env"
        env.mkdir()
        (env / "extravars").write_text(yaml.safe_dump({"mxone_pki_dir": self.pki}))
        (env / "envvars").write_text(yaml.safe_dump({"ANSIBLE_COLLECTIONS_PATH": self.collections,
                                                     "ANSIBLE_NOCOLOR": "1"}))
        (env / "cmdline").write_text("-u ops1 -b --become-method su --ask-become-pass --ask-vault-pass"
                                     + (" -" + "v" * verbosity if verbosity else ""))
        write_secret(env / "passwords", yaml.safe_dump({BECOME_PROMPT: self.passwords()["root"],
                                                        VAULT_PROMPT: self.vault_password}))
        with open(os.path.join(self.state, "ssh", "id_rsa")) as handle:
            write_secret(env / "ssh_key", handle.read())
        return pdd


class Job(object):
    """One ``ansible-runner run`` as AWX starts it, and what it left in artifacts/<ident>/."""

    def __init__(self, pdd, ident):
        self.pdd, self.ident = pdd, ident
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith("ANSIBLE_"))
        env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
        self.proc = subprocess.run([os.path.join(BIN, "ansible-runner"), "run", str(pdd), "-p", "site.yml",
                                    "--ident", ident], env=env, capture_output=True, text=True, timeout=600,
                                   check=False)
        self.artifacts = pdd / "artifacts" / ident

    def read(self, name):
        return (self.artifacts / name).read_text().strip()

    @property
    def status(self):
        return self.read("status")

    @property
    def rc(self):
        return int(self.read("rc"))

    def events(self):
        """The job events in order, as AWX stores them."""
        events = [json.loads(path.read_text()) for path in (self.artifacts / "job_events").glob("*.json")]
        return sorted(events, key=lambda e: e["counter"])

    def stats(self):
        """The set_stats data of the run: the playbook_on_stats event's artifact_data."""
        stats = [e for e in self.events() if e["event"] == "playbook_on_stats"]
        assert len(stats) == 1, [e["event"] for e in self.events()]
        return stats[0]["event_data"].get("artifact_data") or {}

    def why(self):
        return "%s rc=%s\n%s\n%s" % (self.status, self.read("rc"), self.read("stdout")[-6000:], self.proc.stderr)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("runner"))
    with f.running(1, 2, 1, NET, SSH_PORT, HTTP_PORT, reload_seconds=0.5):
        f.install_collection()
        yield f


@pytest.fixture(scope="module")
def jobs(fleet):
    """The first two jobs (changes, then none), each in its own private data dir as AWX gives every job one; the
    first at verbosity 3 (Debug), where Ansible shows module arguments and connection details."""
    return [Job(fleet.private_data_dir("job%d" % n, verbosity=3 if n == 1 else 0), "job%d" % n) for n in (1, 2)]


def test_the_first_job_activates_and_publishes_the_result(fleet, jobs):
    first = jobs[0]
    assert (first.status, first.rc) == ("successful", 0), first.why()
    result = first.stats()["mxone_pki"]
    assert result["ok"] is True and result["mode"] == "apply"
    assert result["totals"] == dict(systems=1, changed=1, failed=0, waiting=0, unchanged=0)
    assert result["changed_systems"] == ["lab1"] and result["failed_systems"] == []
    lab1 = result["systems"]["lab1"]
    assert (lab1["result"], lab1["changed"], lab1["ok"]) == ("changed", True, True)
    assert [w["certificate"] for w in lab1["why"]] == ["lab1"] and lab1["why"][0]["reason"]
    assert lab1["commands"] == [dict(command=c, rc=0) for c in ACTIVATION]
    assert fleet.journal("lab1")[:4] == ["license_status"] + ACTIVATION  # what the artifact says is what ran
    window = lab1["outage"]
    assert window["start"] <= window["end"] and window["seconds"] >= 0
    assert lab1["tls"] == dict((lim, "verified") for lim in LIMS) and lab1["tls_problems"] == {}
    assert sorted(lab1["nodes_changed"]) == LIMS and lab1["nodes_failed"] == []


def test_the_second_job_changes_nothing_and_says_so(fleet, jobs):
    second = jobs[1]
    assert (second.status, second.rc) == ("successful", 0), second.why()
    result = second.stats()["mxone_pki"]
    assert result["totals"] == dict(systems=1, changed=0, failed=0, waiting=0, unchanged=1)
    lab1 = result["systems"]["lab1"]
    assert (lab1["result"], lab1["changed"], lab1["why"], lab1["commands"], lab1["outage"]) == (
        "unchanged", False, [], [], None)
    assert lab1["tls"] == dict((lim, "verified") for lim in LIMS)
    assert fleet.journal("lab1") == ["license_status"] + ACTIVATION + ["license_status"]


def test_a_plain_ansible_playbook_run_shows_the_same_result_in_its_custom_stats(fleet, jobs):
    run = run_playbook(os.path.join(ROOT, "playbooks", "verify.yml"), inventory=fleet.lab_inventory,
                       args=("-e", "mxone_pki_dir=%s" % fleet.pki),
                       env=ansible_env(ANSIBLE_SHOW_CUSTOM_STATS="true"))
    assert run.rc == 0, run.output
    stats = run.output[run.output.index("CUSTOM STATS:"):]  # as YAML (ansible.cfg: callback_result_format)
    assert "mxone_pki:" in stats and "playbook: Verify MX-ONE TLS" in stats, stats
    for lim in LIMS:
        assert "%s: verified" % lim in stats, stats


def test_a_job_on_a_trial_licence_fails_and_its_artifact_names_the_system(fleet, jobs):
    ca_pem = os.path.join(fleet.status()["lab1-lim2"]["eri_sn"], "certs", "ca.pem")
    os.unlink(ca_pem)  # a stray edit: the job has something to deliver, and the licence stops it
    fleet.fault("lab1", "no-licence")
    try:
        job = Job(fleet.private_data_dir("job3"), "job3")
    finally:
        fleet.fault("lab1", "clear")
    assert (job.status, job.rc) == ("failed", 2), job.why()
    result = job.stats()["mxone_pki"]
    assert result["ok"] is False and result["failed_systems"] == ["lab1"]
    assert result["totals"]["failed"] == 1
    lab1 = result["systems"]["lab1"]
    assert lab1["result"] == "failed" and sorted(lab1["nodes_failed"]) == LIMS and lab1["commands"] == []
    assert "VOIP-SECURITY" in lab1["failure"] and "lab1" in lab1["failure"]  # which system, and why
    failed = [e for e in job.events() if e["event"] == "runner_on_failed"]
    assert failed and all("VOIP-SECURITY" in e["event_data"]["res"]["msg"] for e in failed)
    assert not os.path.exists(ca_pem)  # nothing delivered to a system without the licence


def test_no_secret_in_any_file_of_the_private_data_dirs(fleet, jobs):
    secrets = fleet.secrets()
    for pdd in sorted(fleet.base.glob("job*")):
        for ident in ("job1", "job2", "job3"):
            # ansible-runner hands the key to ssh-add through a fifo in the artifacts and removes it after use;
            # env/ssh_key itself stays (AWX removes the whole private data dir after the job)
            assert not (pdd / "artifacts" / ident / "ssh_key_data").exists()
        assert (pdd / "env" / "ssh_key").exists()
        seen = 0
        for base, _dirs, files in os.walk(str(pdd)):
            for name in files:
                path = os.path.join(base, name)
                if os.path.relpath(path, str(pdd)) in SECRET_INPUTS:
                    continue
                with open(path, "rb") as handle:
                    text = handle.read().decode("utf-8", "replace")
                seen += 1
                assert "PRIVATE KEY" not in text, path
                for what, value in secrets.items():
                    assert value not in text, "%s in %s" % (what, path)
        assert seen > 10  # events, stdout, status, rc, command, the project, the inventory ...
