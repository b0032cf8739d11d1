"""fleet_plan's view of the inventory: child groups from the tree, hosts from ``groups``, names of extra vars.

Built on a real InventoryManager, VariableManager and HostVars, so an ansible-core that stops carrying the
group tree behind ``hostvars`` fails here, not in a run.
"""

import pytest

from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

from ansible_collections.mxone.pki.plugins.action.fleet_plan import child_groups, extra_variable_names

INVENTORY = """
all:
  children:
    mxone_systems:
      children:
        mxone_b:
          vars: {mxone_system: b, mxone_domain: b.example.net}
          hosts:
            b-lim1: {mxone_lim: 1}
          children:
            b_mtls:
              hosts:
                b-lim2: {mxone_lim: 2}
        mxone_a:
          vars: {mxone_system: a, mxone_domain: a.example.net}
          hosts:
            a-lim1: {mxone_lim: 1}
    site_north:
      hosts:
        a-lim1:
        b-lim1:
    mxone_download_servers:
      hosts:
        dl1: {mxone_download_dir: /srv/tftp}
"""


@pytest.fixture()
def inventory(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(path)])
    variables = VariableManager(loader=loader, inventory=manager)
    return manager, variables, HostVars(inventory=manager, variable_manager=variables, loader=loader)


def test_systems_are_the_child_groups_not_their_subgroups_nor_other_groups(inventory):
    manager, variables, hostvars = inventory
    assert child_groups(hostvars, "mxone_systems") == ["mxone_b", "mxone_a"]  # inventory order
    assert child_groups(hostvars, "no_such_group") == []


def test_groups_gives_each_system_its_hosts_subgroups_included(inventory):
    manager, variables, hostvars = inventory
    groups = variables.get_vars(host=manager.get_host("a-lim1"))["groups"]
    assert groups["mxone_b"] == ["b-lim1", "b-lim2"]
    assert groups["mxone_download_servers"] == ["dl1"]
    assert sorted(groups["all"]) == ["a-lim1", "b-lim1", "b-lim2", "dl1"]
    assert hostvars["b-lim2"]["mxone_domain"] == "b.example.net"


def test_extra_variable_names(inventory):
    manager, variables, hostvars = inventory
    variables._extra_vars = {"mxone_ca_passphrase": "secret", "mxone_activate_now": True}

    class Task(object):
        def get_variable_manager(self):
            return variables

    class Bare(object):
        def get_variable_manager(self):
            return None

    assert sorted(extra_variable_names(Task())) == ["mxone_activate_now", "mxone_ca_passphrase"]
    assert extra_variable_names(Bare()) == []
