"""profiles.yaml: the shipped file, the contract example, lookup order, and every bad file
producing exactly the message a user would see (file:line: key.path: what is wrong)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck as HypothesisHealthCheck
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit import config
from cockpit.config import (
    BUNDLED,
    find_config_path,
    load_config,
    load_text,
    schema_reference,
)
from cockpit.errors import ConfigError
from cockpit.profile import (
    AlarmFilter,
    EcsCluster,
    HostConfig,
    SecretRef,
    SqsQueue,
    Thresholds,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "config"
BAD = DATA / "bad"


# ---------------------------------------------------------------- the shipped files


def test_shipped_profiles_load_and_default_to_the_lab() -> None:
    cfg = load_config(ROOT / "profiles.yaml")
    assert cfg.default == "lab"
    assert next(iter(cfg.profiles)) == "lab"
    assert cfg.get(None).lab is True


def test_bundled_copy_is_byte_identical_to_the_root_one() -> None:
    assert BUNDLED == ROOT / "cockpit" / "profiles.yaml"
    assert BUNDLED.read_bytes() == (ROOT / "profiles.yaml").read_bytes()


def test_shipped_file_names_no_real_estate() -> None:
    text = (ROOT / "profiles.yaml").read_text()
    hosts = set(re.findall(r"[\w.-]+\.(?:com|net|org|io)\b", text))
    assert hosts <= {"example.com"} | {h for h in hosts if h.endswith(".example.com")}


# ---------------------------------------------------------------- the contract example


def test_contract_example_loads_into_typed_records() -> None:
    cfg = load_config(DATA / "contract.yaml")
    assert cfg.default == "lab"
    assert list(cfg.profiles) == ["lab", "production"]
    lab, prod = cfg.profiles["lab"], cfg.profiles["production"]
    assert lab.lab and lab.description == "Embedded lab estate, nothing to configure"
    assert lab.aws is None and lab.hosts == ()

    assert prod.name == "production"
    assert (prod.production, prod.read_only, prod.refresh, prod.timeout) == (True, False, 5, 10)
    assert prod.aws is not None
    assert prod.aws.profile == "prod-oncall" and prod.aws.region == "us-east-1"
    assert prod.aws.endpoint_url is None
    assert prod.aws.ecs == (EcsCluster("production", ("api", "worker"), ("/ecs/api-production",)),)
    assert prod.aws.alarms == AlarmFilter("", ("ALARM", "INSUFFICIENT_DATA"))
    assert prod.aws.sqs == (SqsQueue("jobs", "jobs-dlq"),)
    assert prod.aws.rds == ("prod-postgresql",)
    assert prod.kubernetes[0].context == "prod-eks"
    assert prod.kubernetes[0].namespaces == ("repo-scanner",)
    assert prod.hosts == (
        HostConfig(
            name="app-1",
            ssh="app-1",
            units=("impactlink-api",),
            journal=("impactlink-api",),
            logs=("/var/log/impactlink/error.log",),
            sudo=True,
        ),
    )
    health = prod.health[0]
    assert (health.name, health.url, health.expect_status, health.timeout) == (
        "api",
        "https://api.example.com/health",
        200,
        3,
    )
    assert prod.databases[0].dsn == SecretRef("env:DATABASE_URL")
    assert prod.redis[0].url == SecretRef("env:REDIS_URL")
    assert prod.redis[0].queues == ("jobs:email", "orders:events", "auto")
    assert prod.thresholds == Thresholds(80, 85, 80, 0.5, 2000, 1000, 0.75)
    assert isinstance(prod.thresholds.queue_depth, int)
    runbook = prod.runbooks[0]
    assert (runbook.match, runbook.title) == ("*CPU*", "High CPU")
    assert runbook.steps[-1] == "Restart if it is leaking"


def test_default_is_the_first_profile_and_passwordless_dsns_are_fine() -> None:
    cfg = load_config(DATA / "minimal.yaml")
    here = cfg.get(None)
    assert cfg.default == "here"
    assert here.hosts == (HostConfig(name="me", local=True),)
    assert [d.dsn.ref for d in here.databases] == [
        "postgresql://app@db.example.com/app",
        "host=db.example.com user=app dbname=app",
        "file:~/.config/cockpit/dsn",
    ]
    assert here.aws is not None and here.aws.alarms == AlarmFilter()
    assert here.thresholds == Thresholds()


def test_anchors_aliases_and_merge_keys() -> None:
    cfg = load_config(DATA / "merge_keys.yaml")
    prod, staging, mirror = (cfg.profiles[n] for n in ("production", "staging", "mirror"))
    assert staging.production is False and prod.production is True
    assert staging.refresh == 5 and staging.description == "staging"
    assert staging.hosts == prod.hosts == mirror.hosts
    assert mirror.hosts[0].ssh == "deploy@app-1.example.com"


def test_an_unknown_profile_names_the_known_ones() -> None:
    cfg = load_config(DATA / "contract.yaml")
    with pytest.raises(ConfigError) as e:
        cfg.get("prod")
    assert "lab, production" in e.value.hint


# ---------------------------------------------------------------- lookup order


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    """A cwd, an XDG config home, a HOME and an explicit file, each holding a profiles.yaml."""
    out = {}
    for name in ("cli", "env", "cwd", "xdg", "home"):
        d = tmp_path / name
        out[name] = d
    (out["cli"]).mkdir()
    (out["cli"] / "mine.yaml").write_text("profiles: {cli: {}}\n")
    (out["env"]).mkdir()
    (out["env"] / "env.yaml").write_text("profiles: {env: {}}\n")
    (out["cwd"]).mkdir()
    (out["cwd"] / "profiles.yaml").write_text("profiles: {cwd: {}}\n")
    (out["xdg"] / "cockpit").mkdir(parents=True)
    (out["xdg"] / "cockpit" / "profiles.yaml").write_text("profiles: {xdg: {}}\n")
    (out["home"] / ".config" / "cockpit").mkdir(parents=True)
    (out["home"] / ".config" / "cockpit" / "profiles.yaml").write_text("profiles: {home: {}}\n")
    return out


def test_lookup_order(places: dict[str, Path], tmp_path: Path) -> None:
    cli = str(places["cli"] / "mine.yaml")
    env = {
        "COCKPIT_CONFIG": str(places["env"] / "env.yaml"),
        "XDG_CONFIG_HOME": str(places["xdg"]),
        "HOME": str(places["home"]),
    }
    cwd = places["cwd"]

    def found(cli_path: str | None, environ: dict[str, str], cwd: Path) -> str:
        path = find_config_path(cli_path, environ=environ, cwd=cwd)
        return load_config(path).default if path != BUNDLED else "bundled"

    assert found(cli, env, cwd) == "cli"
    assert found(None, env, cwd) == "env"
    del env["COCKPIT_CONFIG"]
    assert found(None, env, cwd) == "cwd"
    empty = tmp_path / "empty-cwd"
    empty.mkdir()
    assert found(None, env, empty) == "xdg"
    del env["XDG_CONFIG_HOME"]
    assert found(None, env, empty) == "home"
    env["HOME"] = str(tmp_path / "nobody")
    assert found(None, env, empty) == "bundled"
    assert (
        find_config_path(None, environ={"XDG_CONFIG_HOME": str(tmp_path / "x")}, cwd=empty)
        == BUNDLED
    )


@pytest.mark.parametrize("how", ["cli", "env"])
def test_a_named_config_file_must_exist(tmp_path: Path, how: str) -> None:
    missing = tmp_path / "nope.yaml"
    # A fallback would exist, so silently using it would be possible: it must not happen.
    (tmp_path / "profiles.yaml").write_text("profiles: {cwd: {}}\n")
    cli = str(missing) if how == "cli" else None
    environ = {"COCKPIT_CONFIG": str(missing)} if how == "env" else {}
    with pytest.raises(ConfigError) as e:
        find_config_path(cli, environ=environ, cwd=tmp_path)
    origin = "--config" if how == "cli" else "$COCKPIT_CONFIG"
    assert e.value.message == f"{missing}: no such file (from {origin})"


# ---------------------------------------------------------------- bad files, exact messages

BAD_FILES = {
    "unknown_key_deep.yaml": "{p}:5: profiles.production.hosts[0].sshh: unknown key 'sshh' "
    "(expected one of: name, ssh, local, units, journal, logs, sudo, checks)",
    "ssh_is_a_list.yaml": "{p}:5: profiles.production.hosts[0].ssh: expected a string, got a list",
    "missing_cluster.yaml": "{p}:6: profiles.production.aws.ecs[0]: missing required key 'cluster'",
    "refresh_negative.yaml": "{p}:3: profiles.production.refresh: must be greater than 0, got -1",
    "refresh_string.yaml": "{p}:3: profiles.production.refresh: expected a number, got a string",
    "timeout_zero.yaml": "{p}:3: profiles.production.timeout: must be greater than 0, got 0",
    "unknown_default.yaml": "{p}:1: default: unknown profile 'prod' (known: lab, production)",
    "yaml_syntax.yaml": "{p}:5: invalid YAML: found unexpected end of stream",
    "password_in_dsn.yaml": "{p}:4: profiles.production.databases[0].dsn: "
    "a literal password in a DSN is not allowed: use env:NAME or file:PATH",
    "password_in_redis_url.yaml": "{p}:5: profiles.production.redis[0].url: "
    "a literal password in a DSN is not allowed: use env:NAME or file:PATH",
    "password_keyword_dsn.yaml": "{p}:5: profiles.production.databases[0].dsn: "
    "a literal password in a DSN is not allowed: use env:NAME or file:PATH",
    "literal_prometheus_token.yaml": "{p}:6: profiles.production.prometheus[0].token: "
    "a literal token is not allowed: use env:NAME or file:PATH",
    "env_ref_invalid.yaml": "{p}:4: profiles.production.redis[0].url: "
    "env: needs a variable name, got 'REDIS URL'",
    "shell_in_unit.yaml": "{p}:6: profiles.production.hosts[0].units[1]: a unit name must not "
    "contain shell metacharacters, found ';' (it reaches a remote shell)",
    "log_path_backtick.yaml": "{p}:6: profiles.production.hosts[0].logs[0]: a log path must not "
    "contain shell metacharacters, found '`' (it reaches a remote shell)",
    "ssh_option_injection.yaml": "{p}:5: profiles.production.hosts[0].ssh: an ssh target must "
    "not start with '-' (it would be read as an option)",
    "bad_alarm_state.yaml": "{p}:4: profiles.production.aws.alarms.states[1]: "
    "expected one of ALARM, OK, INSUFFICIENT_DATA, got 'FIRING'",
    "duplicate_key.yaml": "{p}:5: profiles.production.refresh: duplicate key 'refresh' "
    "(first at line 3)",
    "duplicate_host_name.yaml": "{p}:5: profiles.production.hosts[1].name: "
    "'app-1' is used twice (first at line 4)",
    "empty.yaml": "{p}:1: the file is empty: expected a mapping with 'profiles'",
    "top_level_list.yaml": "{p}:1: expected a mapping with 'profiles' at the top, got a list",
    "no_profiles.yaml": "{p}:1: missing required key 'profiles'",
    "profiles_empty.yaml": "{p}:2: profiles: no profiles defined",
    "unknown_top_key.yaml": "{p}:1: profile: unknown key 'profile' "
    "(expected one of: default, profiles)",
    "profile_not_mapping.yaml": "{p}:2: profiles.lab: expected a mapping, got a boolean",
    "bool_as_string.yaml": "{p}:3: profiles.production.production: "
    "expected a boolean (true or false), got a string",
    "threshold_wrong_type.yaml": "{p}:5: profiles.production.thresholds.queue_depth: "
    "expected an integer, got a number",
    "host_ssh_and_local.yaml": "{p}:4: profiles.this-machine.hosts[0]: "
    "give either ssh or local: true, not both",
    "host_neither.yaml": "{p}:4: profiles.this-machine.hosts[0]: "
    "missing required key 'ssh' (or local: true for this machine)",
    "merge_cycle.yaml": "{p}:4: profiles.lab: << merges a mapping into itself",
    "alias_bomb.yaml": "{p}:6: profiles.lab.runbooks[245].steps: "
    "too many values (over 100,000 after expanding aliases)",
}


def test_every_bad_fixture_has_an_expected_message() -> None:
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(BAD_FILES)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_gives_exact_message(name: str) -> None:
    path = BAD / name
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.message == BAD_FILES[name].format(p=path)
    # Nothing chained for a traceback printer to show: the message and hint are the report.
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_hints_point_at_the_fix() -> None:
    with pytest.raises(ConfigError) as e:
        load_config(BAD / "unknown_key_deep.yaml")
    assert e.value.hint == "did you mean 'ssh'?"
    with pytest.raises(ConfigError) as e:
        load_config(BAD / "unknown_top_key.yaml")
    assert e.value.hint == "did you mean 'profiles'?"
    with pytest.raises(ConfigError) as e:
        load_config(BAD / "yaml_syntax.yaml")
    assert e.value.hint == "while scanning a quoted scalar that starts at line 3"


def test_alias_bomb_is_refused_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError):
        load_config(BAD / "alias_bomb.yaml")
    # Generous bound: the walk stops at the node budget instead of visiting 160,000 values
    # per level of nesting; an unbounded walk of a deeper bomb would never return.
    assert time.monotonic() - started < 5


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "missing.yaml")
    assert e.value.message.startswith(f"{tmp_path / 'missing.yaml'}: cannot read")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"profiles:\n  lab: {description: caf\xe9}\n")
    with pytest.raises(ConfigError) as e:
        load_config(latin)
    assert e.value.message == f"{latin}:2: not UTF-8 text"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("profiles: {a: {refresh: !!int x}}", "profiles.a.refresh: 'x' is not a valid int"),
        ("profiles: {a: {lab: yes please}}", "profiles.a.lab: expected a boolean"),
        ("profiles: {a: {lab: 1}}", "profiles.a.lab: expected a boolean"),
        ("profiles: {a: {refresh: .inf}}", "profiles.a.refresh: expected a finite number"),
        ("profiles: {a: {kubernetes: [{namespaces: [no]}]}}", "got a boolean"),
        pytest.param("[" * 1000, "invalid YAML: nested too deeply", id="deep-nesting"),
        (
            "profiles: {a: {}}\n---\nprofiles: {}\n",
            "invalid YAML: expected a single document in the stream, but found another document",
        ),
        (
            "profiles: {a: {hosts: [{name: x, ssh: 'a b'}]}}",
            "an ssh target must not contain spaces",
        ),
        ("profiles: {a: {redis: [{name: r, url: env:R, queues: ['list:']}]}}", "list:KEY"),
        ("profiles: {a: {health: [{name: h, url: ftp://x}]}}", "http:// or https://"),
    ],
)
def test_odd_values(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_text(text, Path("p.yaml"))
    assert re.match(r"p\.yaml:[12]: ", e.value.message)
    assert expected in e.value.message


# ---------------------------------------------------------------- the key reference


def test_schema_reference_documents_every_key() -> None:
    ref = schema_reference()
    assert ref.startswith("| key | type | default | meaning |\n|---|---|---|---|\n")
    for rec_prefix, rec in [
        ("profiles.<name>.", config.PROFILE),
        ("profiles.<name>.aws.", config.AWS),
        ("profiles.<name>.aws.ecs[].", config.ECS),
        ("profiles.<name>.aws.alarms.", config.ALARMS),
        ("profiles.<name>.aws.sqs[].", config.SQS),
        ("profiles.<name>.kubernetes[].", config.KUBERNETES),
        ("profiles.<name>.hosts[].", config.HOST),
        ("profiles.<name>.health[].", config.HEALTH),
        ("profiles.<name>.databases[].", config.DATABASE),
        ("profiles.<name>.redis[].", config.REDIS),
        ("profiles.<name>.thresholds.", config.THRESHOLDS),
        ("profiles.<name>.runbooks[].", config.RUNBOOK),
    ]:
        for key, (_type, doc) in rec.keys.items():
            assert doc, f"{rec_prefix}{key} has no documentation"
            assert f"| `{rec_prefix}{key}` |" in ref
    assert "| `profiles.<name>.hosts[].name` | string | required |" in ref
    assert "| `profiles.<name>.refresh` | seconds > 0 | `5` |" in ref


# ---------------------------------------------------------------- fuzzing

FUZZ_PATH = Path("/fuzz/profiles.yaml")
_LOCATED = re.compile(re.escape(str(FUZZ_PATH)) + r":\d+: ")

# Keys drawn partly from the schema so the fuzzer reaches deep records, not only the top.
_KEYS = st.sampled_from(
    sorted(
        {k for rec in config._RECORDS for k in rec.keys}
        | {"default", "profiles", "lab", "production", "<<"}
    )
) | st.text(max_size=8)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**400)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(["env:X", "redis://:pw@h", "a;b", "-o", "ALARM", "queue:q", "http://h"])
)
_TREES = st.recursive(
    _SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_KEYS, kids, max_size=5),
    max_leaves=25,
)
_FUZZ = settings(
    deadline=None,
    max_examples=150,
    database=None,  # no .hypothesis directory left in the work tree
    suppress_health_check=[HypothesisHealthCheck.too_slow],
)


def _loads_or_located_error(text: str) -> None:
    try:
        cfg = load_text(text, FUZZ_PATH)
    except ConfigError as e:
        assert _LOCATED.match(e.message), e.message
    else:
        assert cfg.default in cfg.profiles


@_FUZZ
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text(text: str) -> None:
    _loads_or_located_error(text)


@_FUZZ
@given(st.dictionaries(st.text(max_size=8), _TREES, max_size=3), _TREES)
def test_fuzz_structures_under_profiles(profiles: dict, default: object) -> None:
    _loads_or_located_error(yaml.safe_dump({"profiles": profiles}))
    _loads_or_located_error(yaml.safe_dump({"default": default, "profiles": profiles}))


@_FUZZ
@given(_TREES)
def test_fuzz_structures_inside_a_profile(profile: object) -> None:
    _loads_or_located_error(yaml.safe_dump({"profiles": {"p": profile}}))
    _loads_or_located_error(yaml.safe_dump({"profiles": {"p": {"hosts": [profile]}}}))
    _loads_or_located_error(yaml.safe_dump({"profiles": {"p": {"aws": profile}}}))


def test_runbook_steps_may_name_an_action(tmp_path: Path) -> None:
    """Issue 23 item 4: `... action: <id>` or `{text, action}`; an unknown id is located."""
    from cockpit.config import load_config

    path = tmp_path / "profiles.yaml"
    path.write_text(
        "profiles:\n  p:\n    runbooks:\n      - match: '*down*'\n        title: Down\n"
        "        steps: ['Read the events', 'Restart the service: action: service.restart',\n"
        "                {text: Purge them, action: queue.purge_dlq}]\n")
    steps = load_config(path).get("p").runbooks[0].steps
    assert [(str(s), s.action) for s in steps] == [
        ("Read the events", ""), ("Restart the service", "service.restart"), ("Purge them", "queue.purge_dlq")]
    path.write_text(path.read_text().replace("service.restart", "service.restrat"))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "unknown action 'service.restrat'" in e.value.message and ":6:" in e.value.message
    assert "service.restart" in e.value.hint
