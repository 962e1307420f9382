"""The impact policy file: the shipped one loads whole, and a broken copy is refused with its file, line and reason."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from console.errors import InvalidInput
from console.routing import (
    DEFAULT_PATH,
    Action,
    Audience,
    Metric,
    Recipient,
    RuleKind,
    default_policy,
    load_policy,
    policy_digest,
)
from console.routing._lines import key_lines
from console.routing.definitions import Fatigue
from models.enums import ServiceTier, Severity

SHIPPED = DEFAULT_PATH.read_text(encoding="utf-8")


def test_the_shipped_policy_loads_with_every_level_and_kind_of_rule() -> None:
    policy = load_policy()
    assert policy.version == "2026-11-27.1"
    assert [level.severity for level in policy.levels] == list(Severity)
    assert {rule.kind for rule in policy.rules} == set(RuleKind)
    assert 10 <= len(policy.rules) <= 15
    assert policy.digest == hashlib.sha256(SHIPPED.encode()).hexdigest()
    assert default_policy() is default_policy()


def test_the_shipped_levels_say_who_is_engaged_and_how_often() -> None:
    policy = load_policy()
    sev1, sev4 = policy.level(severity=Severity.SEV1), policy.level(severity=Severity.SEV4)
    assert Recipient.EXECUTIVE_ROSTER in sev1.page and Recipient.DEPENDENT_ROTATIONS in sev1.page
    assert "executive_summary" in sev1.templates
    assert sev1.update_minutes(audience=Audience.CUSTOMERS) == 30
    assert sev4.page == () and sev4.update_minutes(audience=Audience.CUSTOMERS) is None
    assert [level.ack_minutes for level in policy.levels] == sorted(level.ack_minutes for level in policy.levels)


def test_the_shipped_rules_include_the_sre_workbook_burn_rates() -> None:
    policy = load_policy()
    fast, slow, drain = (policy.rule(rule_id=i) for i in ("slo-fast-burn", "slo-slow-burn", "slo-budget-drain"))
    assert (fast.windows, fast.threshold, fast.action) == ((3600, 300), 14.4, Action.PAGE)
    assert (slow.windows, slow.threshold, slow.action) == ((21600, 1800), 6.0, Action.PAGE)
    assert (drain.windows, drain.threshold, drain.action, drain.severity) == ((259200, 21600), 1.0, Action.TICKET,
                                                                               Severity.SEV4)
    assert fast.applies_to(service="identity", tier=ServiceTier.FOUNDATIONAL)
    assert not fast.applies_to(service="web-app", tier=ServiceTier.EDGE)
    rising = policy.rule(rule_id="latency-rising")
    assert (rising.metric, rising.sustain_seconds) == (Metric.LATENCY_P99_MS, 300)
    with pytest.raises(InvalidInput, match="no rule 'nope'"):
        policy.rule(rule_id="nope")


def test_the_digest_names_the_text_whatever_its_line_endings() -> None:
    assert policy_digest(text=SHIPPED) == policy_digest(text=SHIPPED.replace("\n", "\r\n"))
    assert policy_digest(text=SHIPPED) != policy_digest(text=SHIPPED.replace("2026-11-27.1", "2026-11-27.2"))
    assert load_policy(text=SHIPPED.replace("\n", "\r\n")).digest == load_policy().digest


def _nth(text: str, old: str, nth: int) -> int:
    index = -1
    for _ in range(nth):
        index = text.index(old, index + 1)
    return index


def _broken(tmp_path: Path, old: str, new: str, nth: int = 1) -> tuple[Path, str]:
    index = _nth(SHIPPED, old, nth)
    text = SHIPPED[:index] + new + SHIPPED[index + len(old):]
    path = tmp_path / "impact.toml"
    path.write_text(text, encoding="utf-8")
    return path, text


def _line(text: str, marker: str, nth: int = 1) -> int:
    return text[:_nth(text, marker, nth)].count("\n") + 1


# (what to replace, its occurrence, the replacement, the text on the offending line (or it and its occurrence),
# where, reason)
BROKEN = [
    pytest.param('threshold = 6.0', 1, 'threshold = "high"', 'threshold = "high"', "rules[2].threshold",
                 'expected a number, got "high"', id="wrong-type"),
    pytest.param('aggregate = "mean"', 1, 'aggregate = "mean"\ntreshold = 99.5', "treshold", "rules[4].treshold",
                 'unknown key (did you mean "threshold"?)', id="unknown-key"),
    pytest.param('metric = "latency_p99_ms"', 1, 'metric = "latency_p95_ms"', "latency_p95_ms", "rules[7].metric",
                 '"latency_p95_ms" is not one of availability, error_rate', id="unknown-metric"),
    pytest.param('severity = "SEV3"', 1, 'severity = "SEV5"', '"SEV5"', "rules[8].severity",
                 '"SEV5" is not one of SEV1, SEV2, SEV3, SEV4', id="unknown-severity"),
    pytest.param('threshold = 98.0', 1, 'threshold = 198.0', "198.0", "rules[5].threshold",
                 "198.0 is out of range: it must be at most 100.0", id="out-of-range"),
    pytest.param('windows = ["6h", "30m"]', 1, 'windows = ["6h", "30m", "5m"]', '"30m", "5m"]', "rules[2].windows",
                 "expected a pair of durations [long, short]", id="windows-not-a-pair"),
    pytest.param('windows = ["1h", "5m"]', 2, 'windows = ["5m", "1h"]', '["5m", "1h"]', "rules[1].windows",
                 'the long window "5m" must be longer than the short one "1h"', id="windows-reversed"),
    pytest.param('window = "10m"', 3, 'window = "10 minutes"', "10 minutes", "rules[7].window",
                 'expected a duration such as "5m", "1h" or "3d", got "10 minutes"', id="bad-duration"),
    pytest.param('id = "slo-slow-burn"', 1, 'id = "slo-fast-burn"', ('id = "slo-fast-burn"\n', 2), "rules[2].id",
                 '"slo-fast-burn" is already used by rules[0]', id="duplicate-id"),
    pytest.param('[severity.SEV3]', 1, '[severity.SEV5]', "[severity.SEV5]", "severity.SEV5",
                 '"SEV5" is not one of SEV1, SEV2, SEV3, SEV4', id="unknown-level"),
    pytest.param('ack_minutes = 30', 1, 'ack_minutes = 3', "ack_minutes = 3\n", "severity.SEV3.ack_minutes",
                 "3 is quicker than SEV2's 15", id="ack-order"),
    pytest.param('inform = ["team_lead", "support_leads"]', 1, 'inform = ["owner_rotation"]', 'inform = ["owner',
                 "severity.SEV3.inform[0]", '"owner_rotation" is already paged at this level', id="paged-and-informed"),
    pytest.param('aggregate = "sum"', 1, 'aggregate = "average"', '"average"', "rules[10].aggregate",
                 '"average" is not one of mean, max, min, sum, count', id="unknown-aggregate"),
    pytest.param('slo = 99.9', 3, 'slo = 99.9\naggregate = "mean"', 'aggregate = "mean"\nwindows = ["6h"',
                 "rules[2].aggregate", "does not apply to a burn_rate rule (only to threshold)",
                 id="key-of-another-kind"),
    pytest.param('match = { value = "negative", strategic = "true" }', 1,
                 'match = { value = "negtive", strategic = "true" }', "negtive", "rules[12].match.value",
                 '"negtive" is not a sentiment value: use positive, neutral, negative', id="qualitative-typo"),
    pytest.param('updates = { internal = 15, customers = 30, executives = 30 }', 1,
                 'updates = { internal = 15, board = 30 }', "board", "severity.SEV1.updates.board",
                 '"board" is not one of internal, customers, executives', id="unknown-audience"),
    pytest.param('updates = { internal = 120, customers = 240 }', 1, 'updates = { internal = 10, customers = 240 }',
                 "internal = 10,", "severity.SEV3.updates.internal",
                 "internal hear every 10 min at SEV3 but every 30 min at SEV2", id="cadence-order"),
    pytest.param('ack_minutes = 5', 1, 'ack_minutes = "5"', 'ack_minutes = "5"', "severity.SEV1.ack_minutes",
                 'expected a whole number, got "5"', id="level-wrong-type"),
    pytest.param('action = "ticket"', 1, 'action = "ticket"\n', 'severity = "SEV4"\naction = "ticket"', "", "",
                 id="control-no-change"),
]


@pytest.mark.parametrize(("old", "nth", "new", "marker", "where", "reason"), BROKEN)
def test_a_broken_policy_is_refused_with_file_line_and_reason(
        tmp_path: Path, old: str, nth: int, new: str, marker: str | tuple[str, int], where: str, reason: str,
) -> None:
    path, text = _broken(tmp_path, old, new, nth)
    marker, occurrence = marker if isinstance(marker, tuple) else (marker, 1)
    if not where:
        assert load_policy(path=path).version == "2026-11-27.1"  # the harness itself breaks nothing
        return
    with pytest.raises(InvalidInput) as caught:
        load_policy(path=path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{_line(text, marker, occurrence)}: {where}: "), message
    assert reason in message


def test_a_missing_key_is_reported_at_its_table_header(tmp_path: Path) -> None:
    path, text = _broken(tmp_path, 'severity = "SEV4"\naction = "ticket"', 'severity = "SEV4"')
    with pytest.raises(InvalidInput) as caught:
        load_policy(path=path)
    header = _line(text, "[[rules]]", 4)
    assert str(caught.value) == f"{path}:{header}: rules[3].action: is required"


def test_a_missing_level_is_reported_where_the_levels_start(tmp_path: Path) -> None:
    start, end = SHIPPED.index("[severity.SEV3]"), SHIPPED.index("[severity.SEV4]")
    path = tmp_path / "impact.toml"
    path.write_text(SHIPPED[:start] + SHIPPED[end:], encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_policy(path=path)
    assert str(caught.value) == (f"{path}:{_line(SHIPPED, '[severity.SEV1]')}: severity: the taxonomy has no level "
                                 "SEV3; add [severity.SEV3]")


def test_a_syntax_error_names_the_line_tomllib_found(tmp_path: Path) -> None:
    path, text = _broken(tmp_path, 'kind = "threshold"', 'kind = "threshold')
    line = _line(text, 'kind = "threshold\n')
    with pytest.raises(InvalidInput, match=rf"^{re.escape(str(path))}:{line}: not valid TOML: "):
        load_policy(path=path)


def test_text_without_a_file_and_an_unreadable_file_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"^<policy text>:\d+: rules\[2\]\.threshold: expected a number"):
        load_policy(text=SHIPPED.replace("threshold = 6.0", 'threshold = "6x"'))
    with pytest.raises(InvalidInput, match="cannot read the impact policy"):
        load_policy(path=tmp_path / "missing.toml")


def test_a_policy_without_rules_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"^<policy text>:1: rules: the policy has no rules"):
        load_policy(text=SHIPPED.split("[[rules]]")[0])


def test_a_burn_rate_that_can_never_happen_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"rules\[0\]\.threshold: 1440.0 is out of range: it must be at most"):
        load_policy(text=SHIPPED.replace("threshold = 14.4", "threshold = 1440.0", 1))


def test_a_page_is_never_a_ticket_for_a_major_incident() -> None:
    with pytest.raises(InvalidInput, match=r"rules\[3\]\.action: a SEV2 needs a page or a raise"):
        load_policy(text=SHIPPED.replace('severity = "SEV4"\naction', 'severity = "SEV2"\naction'))


def test_the_line_finder_is_not_fooled_by_arrays_and_strings_that_span_lines() -> None:
    text = '\n'.join([
        'version = "1"',  # 1
        'notes = """',  # 2
        '[[rules]]',  # 3: inside a string, not a header
        '"""',  # 4
        'pairs = [',  # 5
        '  ["1h", "5m"],',  # 6: inside an array, not a table header
        '  ["6h", "30m"],  # a comment ]',  # 7
        ']',  # 8
        '[severity.SEV1]',  # 9
        'updates = { internal = 15 }',  # 10
        '[[rules]]',  # 11
        'id = "a"',  # 12
        '[[rules]]',  # 13
        '"quoted.key" = 1',  # 14
        '[rules.match]',  # 15
        'value = "x"',  # 16
    ])
    lines = key_lines(text=text)
    assert lines[("pairs",)] == 5 and lines[("severity", "SEV1", "updates")] == 10
    assert lines[("rules", 0)] == 11 and lines[("rules", 0, "id")] == 12
    assert lines[("rules", 1, "quoted.key")] == 14 and lines[("rules", 1, "match", "value")] == 16
    assert ("rules", 2) not in lines


# --- the [fatigue] section ------------------------------------------------------------------------------------------

_FATIGUE_SECTION = '[fatigue]\nmax_pages_per_shift = 6\nmax_night_pages_per_shift = 2\nnight = "22:00-07:00"\n'

FATIGUE_BROKEN = [
    pytest.param('night = "22:00-07:00"', 'night = "22:00-22:00"', "fatigue.night",
                 '"22:00-22:00" is not a night: whole hours written HH:00-HH:00, e.g. "22:00-07:00"', id="empty-night"),
    pytest.param('night = "22:00-07:00"', 'night = "22:30-07:00"', "fatigue.night",
                 '"22:30-07:00" is not a night: whole hours', id="not-whole-hours"),
    pytest.param('night = "22:00-07:00"', 'night = "24:00-07:00"', "fatigue.night", '"24:00-07:00" is not a night',
                 id="no-such-hour"),
    pytest.param('night = "22:00-07:00"', 'night = "10pm-7am"', "fatigue.night", '"10pm-7am" is not a night',
                 id="words"),
    pytest.param('night = "22:00-07:00"', "night = 22", "fatigue.night", "expected text, got 22", id="night-number"),
    pytest.param('night = "22:00-07:00"', 'night = " "', "fatigue.night", "must not be empty", id="night-blank"),
    pytest.param("max_pages_per_shift = 6", "max_pages_per_shift = 0", "fatigue.max_pages_per_shift",
                 "0 is out of range: it must be at least 1", id="no-pages-allowed"),
    pytest.param("max_pages_per_shift = 6", "max_pages_per_shift = 6.5", "fatigue.max_pages_per_shift",
                 "expected a whole number, got 6.5", id="fractional-pages"),
    pytest.param("max_pages_per_shift = 6", 'max_pages_per_shift = "6"', "fatigue.max_pages_per_shift",
                 'expected a whole number, got "6"', id="pages-as-text"),
    pytest.param("max_pages_per_shift = 6", "max_pages_per_shift = true", "fatigue.max_pages_per_shift",
                 "expected a whole number, got true", id="pages-as-bool"),
    pytest.param("max_night_pages_per_shift = 2", "max_night_pages_per_shift = 7", "fatigue.max_night_pages_per_shift",
                 "7 is out of range: it must be at most 6", id="more-nights-than-pages"),
    pytest.param("max_night_pages_per_shift = 2", "max_night_pages_per_shift = -1",
                 "fatigue.max_night_pages_per_shift", "-1 is out of range: it must be at least 0", id="negative-nights"),
    pytest.param("max_night_pages_per_shift = 2", "max_night_pages_per_shift = 2\nmax_pages_per_night = 3",
                 "fatigue.max_pages_per_night", "unknown key", id="unknown-key"),
]


@pytest.mark.parametrize(("old", "new", "where", "reason"), FATIGUE_BROKEN)
def test_a_broken_fatigue_section_is_refused_with_file_line_and_reason(tmp_path: Path, old: str, new: str, where: str,
                                                                       reason: str) -> None:
    path, text = _broken(tmp_path, old, new)
    with pytest.raises(InvalidInput) as caught:
        load_policy(path=path)
    message = str(caught.value)
    line = _line(text, new.splitlines()[-1])
    assert message.startswith(f"{path}:{line}: {where}: "), message
    assert reason in message


def test_a_fatigue_section_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    text = SHIPPED.replace(_FATIGUE_SECTION, "").replace('clear_after = "10m"\n', 'clear_after = "10m"\nfatigue = "strict"\n')
    path = tmp_path / "impact.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_policy(path=path)
    assert str(caught.value) == f'{path}:{_line(text, "fatigue = ")}: fatigue: expected a table, got "strict"'


def test_the_shipped_fatigue_limits_and_night() -> None:
    fatigue = load_policy().fatigue
    assert (fatigue.max_pages_per_shift, fatigue.max_night_pages_per_shift) == (6, 2)
    assert [hour for hour in range(24) if fatigue.is_night(hour=hour)] == [0, 1, 2, 3, 4, 5, 6, 22, 23]


def test_a_fatigue_section_left_out_or_partly_written_takes_the_defaults() -> None:
    without = load_policy(text=SHIPPED.replace(_FATIGUE_SECTION, ""))
    assert without.fatigue == Fatigue()
    only_night = load_policy(text=SHIPPED.replace(_FATIGUE_SECTION, '[fatigue]\nnight = "20:00-06:00"\n'))
    assert (only_night.fatigue.max_pages_per_shift, only_night.fatigue.max_night_pages_per_shift) == (6, 2)
    assert [h for h in range(24) if only_night.fatigue.is_night(hour=h)] == [0, 1, 2, 3, 4, 5, 20, 21, 22, 23]
    strict = load_policy(text=SHIPPED.replace(_FATIGUE_SECTION, "[fatigue]\nmax_pages_per_shift = 3\n"
                                                                 "max_night_pages_per_shift = 3\n"))
    assert (strict.fatigue.max_pages_per_shift, strict.fatigue.max_night_pages_per_shift) == (3, 3)


def test_a_night_that_does_not_cross_midnight_is_read_as_written() -> None:
    policy = load_policy(text=SHIPPED.replace('night = "22:00-07:00"', 'night = "01:00-05:00"'))
    assert [h for h in range(24) if policy.fatigue.is_night(hour=h)] == [1, 2, 3, 4]
    assert policy.digest != load_policy().digest  # a different policy version's text
