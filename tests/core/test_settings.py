"""Bad configuration is one line naming the setting (and the node), exit 2: never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from govshare.core.errors import ConfigurationError, TopologyError
from govshare.core.settings import DEFAULT_TOPOLOGY, Settings
from govshare.federation.topology import Topology
from govshare.server.cli import main
from govshare.server.postgres import free_port

from ..conftest import Cluster
from ..helpers import SECRET

TOPOLOGY = Path(__file__).resolve().parents[1] / "topology.toml"


@pytest.mark.parametrize(("env", "message"), [
    ({"GOVSHARE_NODE_TIMEOUT": "0"}, "GOVSHARE_NODE_TIMEOUT must be a positive number, got '0'"),
    ({"GOVSHARE_NODE_TIMEOUT": "-1"}, "GOVSHARE_NODE_TIMEOUT must be a positive number, got '-1'"),
    ({"GOVSHARE_NODE_TIMEOUT": "nan"}, "GOVSHARE_NODE_TIMEOUT must be a positive number"),
    ({"GOVSHARE_NODE_TIMEOUT": "soon"}, "GOVSHARE_NODE_TIMEOUT must be a number, got 'soon'"),
    ({"GOVSHARE_NODE_TIMEOUT": "3", "GOVSHARE_REQUEST_TIMEOUT": "1"}, "must not be shorter than"),
    ({"GOVSHARE_MAX_IN_FLIGHT": "0"}, "GOVSHARE_MAX_IN_FLIGHT must be a positive integer"),
    ({"GOVSHARE_POOL_SIZE": "0"}, "GOVSHARE_POOL_SIZE must be a positive integer"),
    ({"GOVSHARE_PORT": "99999"}, "GOVSHARE_PORT must be between 1 and 65535, got 99999"),
    ({"GOVSHARE_DSN_650100": "host=db user=x"}, "GOVSHARE_DSN_650100 (node 650100) must be a postgresql:// URI"),
    ({"GOVSHARE_DSN_650100": "postgresql://u:secret@db:70000/x"},
     "GOVSHARE_DSN_650100 (node 650100) is not a valid DSN: Port out of range 0-65535"),
])
def test_bad_settings_are_refused_with_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(env)
    assert message in raised.value.message and "\n" not in raised.value.message
    assert "secret" not in raised.value.message


@pytest.mark.parametrize(("dsns", "message"), [
    ({"659999": "postgresql://db/x"}, "GOVSHARE_DSN_659999: the topology has no node '659999'"),
    ({"65-02": "postgresql://db/x"}, "GOVSHARE_DSN_65-02: the topology has no node '65-02'"),
    ({"654300": "postgresql://db/x"}, "GOVSHARE_DSN_654300: node 654300 is hosted by 650000"),
])
def test_dsns_for_unknown_or_hosted_nodes_are_refused(dsns: dict[str, str], message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        Topology.load(DEFAULT_TOPOLOGY, dsns)


@pytest.mark.parametrize(("change", "message"), [
    (('code = "650200"', 'code = "65-02"'), "node code '65-02' must be 6 digits"),
    (("timeout_seconds = 1.0", 'timeout_seconds = "soon"'), "timeout_seconds must be a positive number of seconds, "
                                                             "got 'soon'"),
    (("timeout_seconds = 1.0", "timeout_seconds = 0"), "timeout_seconds must be a positive number"),
    (('code = "650200"', 'code = "650200"\ndsn = "postgresql://db:70000/x"'), "port out of range|Port out of range"),
])
def test_bad_topologies_name_what_is_wrong(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = tmp_path / "topology.toml"
    path.write_text(TOPOLOGY.read_text(encoding="utf-8").replace(*change, 1), encoding="utf-8")
    with pytest.raises(TopologyError, match=message):
        Topology.load(path)


def _serve(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cluster: Cluster,
           **dsns: str) -> tuple[int, str]:
    monkeypatch.setenv("GOVSHARE_TOPOLOGY", str(TOPOLOGY))
    monkeypatch.setenv("GOVSHARE_DEMO_JWT_SECRET", SECRET)
    monkeypatch.setenv("GOVSHARE_PORT", str(free_port()))
    for node in cluster.topology.databases:
        monkeypatch.setenv(f"GOVSHARE_DSN_{node.code}", dsns.get(f"n{node.code}", cluster.dsn(node.code)))
    code = main(["serve"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("dsn", "message"), [
    ("postgresql://postgres:{password}@127.0.0.1:{port}/no_such_database",
     'database "no_such_database" does not exist'),
    # scram: the server does not say whether a role exists, only that its password did not match
    ("postgresql://nobody_here@127.0.0.1:{port}/govshare", 'password authentication failed for user "nobody_here"'),
    ("postgresql://postgres@127.0.0.1:{port}/govshare?sslmode=sometimes", "sslmode"),
])
def test_serve_with_a_dsn_the_server_refuses_is_one_line_and_exit_2(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cluster: Cluster, dsn: str,
        message: str) -> None:
    server = cluster.servers["650200"]
    code, err = _serve(capsys, monkeypatch, cluster, n650200=dsn.format(port=server.port, password=server.password))
    assert code == 2
    assert err.startswith("govshare: GOVSHARE_DSN_650200 (node 650200): ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_pool_size_is_read_from_the_environment() -> None:
    assert Settings.from_env({"GOVSHARE_POOL_SIZE": "4"}).pool_max_size == 4
    assert Settings.from_env({}).pool_max_size == 10
