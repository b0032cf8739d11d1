#!/usr/bin/env python
"""The bare-SSH floor: the physical limit of delivering the rollout's files on this machine.

Two steps, each its own process so that bench/run can time them apart:

    floor.py material --state-dir LAB --out DIR
        The same material as mxone.pki's defaults, made directly with ``cryptography``:
        a CA (RSA 3072, CN MXOneEnterpriseCA, CA:TRUE) and one certificate per system
        (RSA 2048, CN *.<domain>, every lim<N>.<domain> and LIM IP as SAN), then per LIM the
        two files (eri_sn_cert.pem = key, certificate, CA; ca.pem) and ca.pem for the download
        servers, as ready-to-send tar streams in DIR. (Timed separately: ``floor_material_s``.)

    floor.py deliver --state-dir LAB --out DIR --forks N [--activate-parallel K | --no-activate]
        Every ssh call logs in as ops1 (the lab is hardened: no root login) and runs its command as root
        with ``sudo -k -S -p ''``, ops1's password (STATE/passwords.json) first on stdin: that works whether
        the lab's inventory becomes root with su or with sudo.
        Per node ONE ``ssh`` call that unpacks both files from stdin (tar, modes kept),
        N at a time; then per system ONE ``ssh`` call to its first LIM:
        ``media_encryption_enable -type extension && data_backup && reload --system``,
        K systems at a time (default: all at once). A reload takes every LIM's TLS down for
        a while, so a system is done only when TLS is back on every one of its LIMs: the floor
        polls 5061 on each LIM (every 50 ms) until a TLS handshake that verifies the chain
        against DIR/ca.pem and the LIM's name succeeds. Nothing else is checked, nothing is
        kept: the floor. (This is ``floor_s``.) With ``--no-activate`` it only delivers: the
        delivery floor of bench/run --reload-scenario.

Prints one JSON object on stdout. Stdlib + cryptography only; no mxone.pki code.
"""

import argparse
import concurrent.futures
import datetime
import io
import ipaddress
import json
import os
import shlex
import subprocess
import socket
import ssl
import sys
import tarfile
import time

CERTS_DIR = "/etc/opt/eri_sn/certs"
DL_DIR = "/srv/mxone-dl"
VENDOR_BIN = "/opt/eri_sn/bin"  # off sudo's secure_path: the commands by their path
ACTIVATE = ("{0}/media_encryption_enable -type extension && {0}/data_backup && {0}/reload --system"
            .format(VENDOR_BIN))
LOGIN_USER = "ops1"  # the lab's individual account; root with sudo and its own password
POLL_S = 0.05  # between two rounds of TLS probes while a system reloads
WAIT_MAX_S = 900  # a system whose LIMs are not all back by then fails the floor


def lab_nodes(state_dir):
    """The lab's nodes from its own description, STATE/lab.json (names, kinds, addresses, ports): what a floor
    needs. Not ``lab status``, which also probes every node's state (about 20 s of CPU at 1,000 nodes)."""
    with open(os.path.join(state_dir, "lab.json")) as handle:
        nodes = list(json.load(handle)["nodes"].values())

    def order(node):  # the lab's order: systems lab1, lab2 ... by number, LIMs by number, then download servers
        if node["kind"] == "lim":
            return (0, int(node["system"][len("lab"):]), node["lim"])
        return (1, node["index"], 0)

    return sorted(nodes, key=order)


def material(state_dir, out):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(minutes=5)
    nodes = lab_nodes(state_dir)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MXOneEnterpriseCA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start)
          .not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)

    systems = {}
    for node in nodes:
        if node["kind"] == "lim":
            systems.setdefault(node["system"], []).append(node)
    bundles = {}
    for system, lims in sorted(systems.items()):
        domain = lims[0]["fqdn"].split(".", 1)[1]
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        san = [x509.DNSName(n["fqdn"]) for n in lims] + [x509.IPAddress(ipaddress.ip_address(n["ip"])) for n in lims]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*." + domain)]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(now + datetime.timedelta(days=364))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False),
                               critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectAlternativeName(san), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(aki, critical=False)
                .sign(ca_key, hashes.SHA256()))
        bundles[system] = (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
                           + cert.public_bytes(serialization.Encoding.PEM) + ca_pem)

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "ca.pem"), "wb") as handle:
        handle.write(ca_pem)
    for node in nodes:
        files = [("ca.pem", ca_pem, 0o644)]
        if node["kind"] == "lim":
            files.insert(0, ("eri_sn_cert.pem", bundles[node["system"]], 0o600))
        stream = io.BytesIO()
        with tarfile.open(fileobj=stream, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, data, mode in files:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), mode, int(time.time())
                tar.addfile(info, io.BytesIO(data))
        with open(os.path.join(out, node["name"] + ".tar"), "wb") as handle:
            handle.write(stream.getvalue())
    return {"nodes": len(nodes), "systems": len(systems)}


def ssh_argv(state_dir, node):
    """ssh as the lab's individual account (root cannot log in over SSH on a hardened node)."""
    return ["ssh", "-i", os.path.join(state_dir, "ssh", "id_rsa"), "-p", str(node["ssh_port"]),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", LOGIN_USER + "@" + node["ip"]]


def login_password(state_dir):
    with open(os.path.join(state_dir, "passwords.json")) as handle:
        return json.load(handle)[LOGIN_USER]


def as_root(command):
    """``command`` run as root by sudo (asking every time, -k): its password is the first line of stdin."""
    return "sudo -k -S -p '' /bin/sh -c " + shlex.quote(command)


def run_ssh(argv, data=None, password=None):
    if password is not None:  # sudo reads its line, the command gets the rest
        data = password.encode() + b"\n" + (data or b"")
    proc = subprocess.run(argv, input=data, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv[-2:]), proc.returncode,
                                                proc.stderr.decode(errors="replace").strip()[-300:]))


def tls_back(lims, cafile, poll=POLL_S, wait_max=WAIT_MAX_S):
    """Poll 5061 on every LIM until each completes a TLS handshake (chain and name verified): seconds waited."""
    started = time.monotonic()
    context = ssl.create_default_context(cafile=cafile)
    pending = list(lims)
    while True:
        for node in list(pending):
            try:
                with socket.create_connection((node["ip"], 5061), timeout=2) as sock:
                    with context.wrap_socket(sock, server_hostname=node["fqdn"]):
                        pending.remove(node)
            except (OSError, ssl.SSLError):
                pass
        if not pending:
            return time.monotonic() - started
        if time.monotonic() - started > wait_max:
            raise RuntimeError("TLS not back after %d s on %s" % (wait_max, ", ".join(n["name"] for n in pending)))
        time.sleep(poll)


def deliver(state_dir, out, forks, activate=True, parallel=None):
    nodes = lab_nodes(state_dir)
    password = login_password(state_dir)
    started = time.monotonic()

    def one(node):
        with open(os.path.join(out, node["name"] + ".tar"), "rb") as handle:
            data = handle.read()
        target = CERTS_DIR if node["kind"] == "lim" else DL_DIR
        run_ssh(ssh_argv(state_dir, node) + [as_root("tar -xf - --no-same-owner -C " + target)], data, password)

    with concurrent.futures.ThreadPoolExecutor(max_workers=forks) as pool:
        list(pool.map(one, nodes))
    delivered = time.monotonic()
    result = {"nodes": len(nodes), "deliver_s": round(delivered - started, 3)}
    if not activate:
        result["ssh_calls"] = len(nodes)
        return result
    systems = {}  # in the lab's (inventory) order, each system's LIMs by number
    for node in nodes:
        if node["kind"] == "lim":
            systems.setdefault(node["system"], []).append(node)
    for lims in systems.values():
        lims.sort(key=lambda n: n["lim"])
    cafile = os.path.join(out, "ca.pem")
    t0 = time.monotonic()

    def activate_system(system):
        lims = systems[system]
        begun = time.monotonic()
        run_ssh(ssh_argv(state_dir, lims[0]) + [as_root(ACTIVATE)], password=password)
        commanded = time.monotonic()
        waited = tls_back(lims, cafile)
        return {"system": system, "start_s": round(begun - t0, 3), "commands_s": round(commanded - begun, 3),
                "tls_wait_s": round(waited, 3)}

    workers = max(1, min(parallel or len(systems), len(systems)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        per_system = list(pool.map(activate_system, list(systems)))
    done = time.monotonic()
    result.update(ssh_calls=len(nodes) + len(systems), activate_s=round(done - delivered, 3),
                  activate_parallel=workers, systems=per_system)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["material", "deliver"])
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--out", required=True, help="where the material is kept between the two steps")
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--activate-parallel", type=int, help="systems activated at once (default: all)")
    parser.add_argument("--no-activate", action="store_true", help="deliver the files only")
    args = parser.parse_args()
    if args.step == "material":
        result = material(args.state_dir, args.out)
    else:
        result = deliver(args.state_dir, args.out, args.forks, not args.no_activate, args.activate_parallel)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
