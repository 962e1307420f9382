"""Routing: the impact policy (severity levels and rules, from resources/policy/impact.toml) and the rule engine
that turns samples into severity decisions with a reason anyone can read.

Pure domain code: no Qt, no database. `load_policy` reads and checks the policy; `RuleEngine.observe` evaluates
one sample; `apply_person_floor` keeps automation from lowering a severity a person set.
"""
from console.routing.definitions import Policy, Rule, SeverityLevel
from console.routing.policy import (
    DEFAULT_PATH,
    default_policy,
    load_policy,
    policy_digest,
)
from console.routing.rules import Decision, RuleEngine, Sample, apply_person_floor
from console.routing.vocabulary import (
    Action,
    Aggregate,
    Audience,
    BusinessImpact,
    Comparison,
    Metric,
    Recipient,
    RuleKind,
    Sentiment,
)

__all__ = [
    "DEFAULT_PATH", "Action", "Aggregate", "Audience", "BusinessImpact", "Comparison", "Decision", "Metric", "Policy",
    "Recipient", "Rule", "RuleEngine", "RuleKind", "Sample", "Sentiment", "SeverityLevel", "apply_person_floor",
    "default_policy", "load_policy", "policy_digest",
]
