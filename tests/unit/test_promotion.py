"""Automatic promotion after a shadow period with no regression (gridtwin.lifecycle.promotion):
the rules on their own, the shadow counts a batch yields, and `gridtwin models auto-promote`
against counts in a real Redis."""

from __future__ import annotations

import json

import redis

from gridtwin.cli import main
from gridtwin.lifecycle import store
from gridtwin.lifecycle.promotion import PromotionRules, judge, no_higher
from gridtwin.lifecycle.window import stats_key
from gridtwin.registry import load_entry, register
from gridtwin.serving.versions import shadow_stats
from gridtwin.v1 import assessment_pb2

NAME = "phase_imbalance"
RULES = PromotionRules(after_s=3600.0, min_answers=1000)
CALM = {
    "answers": 5000,
    "champion_failed": 0,
    "challenger_failed": 0,
    "champion_alarms": 50,
    "challenger_alarms": 55,
}


def test_judge_waits_for_the_period_and_enough_answers_then_checks_regressions():
    aliases = store.Aliases(champion="v1", challenger="v2")
    assert not judge(aliases, 0.0, CALM, PromotionRules(0.0, 1000), now=1e9).promote  # off
    assert "in shadow for 0.5 h" in judge(aliases, 0.0, CALM, RULES, now=1800.0).detail
    assert not judge(aliases, 0.0, {**CALM, "answers": 999}, RULES, now=7200.0).promote
    assert judge(aliases, 0.0, CALM, RULES, now=7200.0).promote
    more_alarms = {**CALM, "challenger_alarms": 120}  # 2.4 % vs 1 % on 5000 readings
    assert "more alarms" in judge(aliases, 0.0, more_alarms, RULES, now=7200.0).detail
    failing = {**CALM, "challenger_failed": 20}  # 0.4 % vs 0 %: over 2 SE of 1/n
    assert "more failures" in judge(aliases, 0.0, failing, RULES, now=7200.0).detail
    assert not judge(store.Aliases(champion="v1"), 0.0, CALM, RULES, now=7200.0).promote


def test_no_higher_allows_noise_not_a_real_rise():
    assert no_higher(0.011, 0.010, 5000) and not no_higher(0.02, 0.010, 5000)
    assert no_higher(0.0, 0.0, 10) and not no_higher(0.01, 0.0, 10_000)


def _answer(severity: int, status: int = assessment_pb2.OK) -> assessment_pb2.PhaseImbalance:
    return assessment_pb2.PhaseImbalance(info=assessment_pb2.ModelInfo(status=status, severity=severity))


def test_shadow_stats_count_both_versions_on_the_same_readings():
    champion = [
        _answer(assessment_pb2.NORMAL),
        _answer(assessment_pb2.WARNING),
        _answer(assessment_pb2.NORMAL),
    ]
    challenger = [
        _answer(assessment_pb2.CRITICAL),
        _answer(assessment_pb2.WARNING),
        _answer(assessment_pb2.SEVERITY_UNSPECIFIED, assessment_pb2.FAILED),
    ]
    assert shadow_stats(champion, challenger) == {
        "answers": 3,
        "severity_agrees": 1,
        "champion_alarms": 1,
        "challenger_alarms": 2,
        "champion_failed": 0,
        "challenger_failed": 1,
    }


def _version(root, tmp, content: bytes) -> None:
    artifact = tmp / f"model-{content.hex()}.bin"
    artifact.write_bytes(content)
    register(NAME, {"model": artifact}, {"algorithm": "test", "features": []}, root=root)


def test_auto_promote_command_promotes_only_without_regression(
    tmp_path, redis_url, redis_prefix, monkeypatch, capsys
):
    root = tmp_path / "registry"
    _version(root, tmp_path, b"one")
    _version(tmp_path / "staging", tmp_path, b"two")
    challenger = load_entry(NAME, tmp_path / "staging")
    store.set_challenger(NAME, challenger, who="test", why="retrain", root=root)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("GRIDTWIN_REDIS_PREFIX", redis_prefix)
    monkeypatch.setenv("GRIDTWIN_AUTO_PROMOTE_AFTER_S", "0.001")
    client = redis.Redis.from_url(redis_url)
    key = stats_key(redis_prefix, NAME, challenger.version)
    client.hset(key, mapping={**CALM, "challenger_alarms": 400})
    assert main(["models", "auto-promote", NAME, "--registry", str(root)]) == 0
    refused = json.loads(capsys.readouterr().out)
    assert not refused["promote"] and "more alarms" in refused["detail"]
    assert store.read_aliases(NAME, root).challenger == challenger.version
    client.hset(key, mapping=CALM)
    assert main(["models", "auto-promote", NAME, "--registry", str(root)]) == 0
    assert json.loads(capsys.readouterr().out)["promote"]
    assert store.read_aliases(NAME, root).champion == challenger.version
    last = store.events(NAME, root)[-1]
    assert (
        last["action"] == "promote" and last["who"] == "auto-promote" and "without regression" in last["why"]
    )
    client.delete(key)
