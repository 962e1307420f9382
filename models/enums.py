"""Closed sets of the domain, as StrEnums. Imports nothing but the standard library so the UI can use them cheaply."""
from enum import StrEnum


class Severity(StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"

    @property
    def rank(self) -> int:
        """1 is the most severe."""
        return int(self.value[3])


class IncidentStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    MITIGATING = "mitigating"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class IncidentOrigin(StrEnum):
    """Who opened an incident: an operator by hand, or the demo feed (which only ever moves its own)."""

    MANUAL = "manual"
    DEMO = "demo"
    SIGNAL = "signal"  # opened by routing from an incoming signal


class PersonRole(StrEnum):
    RESPONDER = "responder"
    INCIDENT_COMMANDER = "incident_commander"
    SUPPORT_LEAD = "support_lead"
    LEADER = "leader"
    TRAINER = "trainer"
    CUSTOMER_SUCCESS = "customer_success"


class IncidentRole(StrEnum):
    OWNER = "owner"
    COMMANDER = "commander"


class ServiceTier(StrEnum):
    FOUNDATIONAL = "foundational"
    CORE = "core"
    EDGE = "edge"


class FailureFamily(StrEnum):
    AUTHENTICATION = "authentication"
    PAYMENTS = "payments"
    DATA_INTEGRITY = "data_integrity"
    UPTIME = "uptime"


class SignalKind(StrEnum):
    ALERT = "alert"
    METRIC = "metric"
    TICKET = "ticket"
    SENTIMENT = "sentiment"


class TimelineKind(StrEnum):
    OPENED = "opened"
    SIGNAL = "signal"
    ACKNOWLEDGED = "acknowledged"
    OWNER_CHANGED = "owner_changed"
    COMMANDER_CHANGED = "commander_changed"
    SEVERITY_CHANGED = "severity_changed"
    STATUS_CHANGED = "status_changed"
    NOTE = "note"
    NEXT_ACTION = "next_action"
    RESOLVED = "resolved"
    PAGED = "paged"
    COMMUNICATION = "communication"  # an update sent, delivered or failed
    MITIGATION = "mitigation"  # a mitigation requested, decided, reminded, expired, reverted or extended


class TierTarget(StrEnum):
    """Whom an escalation tier pages."""

    ROTATION = "rotation"
    PERSON = "person"
    TEAM_LEAD = "team_lead"


class LeaveKind(StrEnum):
    PTO = "pto"
    HOLIDAY = "holiday"
    SICK = "sick"


class DecisionKind(StrEnum):
    """What an explained decision was about."""

    SEVERITY = "severity"
    ROUTING = "routing"
    GROUPING = "grouping"
    ESCALATION = "escalation"
    OVERRIDE = "override"


class EscalationState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


class PageReason(StrEnum):
    """Why someone was paged."""

    ESCALATION = "escalation"  # a tier of the service's escalation policy
    DEPENDENCY = "dependency"  # a service they are on call for depends on the one at fault
    EXECUTIVE = "executive"  # the impact reaches the executive tier
    MANUAL = "manual"  # someone paged them by hand
    ON_CALL = "on_call"  # on call for the owning team, told of an incident too small to wake anyone
    TEAM_LEAD = "team_lead"  # leads the owning team
    COMMANDERS = "commanders"  # an incident commander, for an incident that has none yet
    SUPPORT = "support"  # a support lead: customers will be asking
    CUSTOMER_SUCCESS = "customer_success"  # accounts may need a call


class ChangeEntity(StrEnum):
    """What a change-log row (and an audit entry's subject) is about."""

    INCIDENT = "incident"
    ORGANISATION = "organisation"


class AuditAction(StrEnum):
    """Every kind of audited change; the audit trail's vocabulary."""

    INCIDENT_OPEN = "incident.open"
    INCIDENT_SIGNAL = "incident.signal"
    INCIDENT_ACKNOWLEDGE = "incident.acknowledge"
    INCIDENT_ASSIGN_OWNER = "incident.assign_owner"
    INCIDENT_ASSIGN_COMMANDER = "incident.assign_commander"
    INCIDENT_CHANGE_SEVERITY = "incident.change_severity"
    INCIDENT_CHANGE_STATUS = "incident.change_status"
    INCIDENT_NOTE = "incident.note"
    INCIDENT_NEXT_ACTION = "incident.next_action"
    INCIDENT_RESOLVE = "incident.resolve"
    INCIDENT_GROUP = "incident.group"
    INCIDENT_ESCALATE = "incident.escalate"
    INCIDENT_PAGE = "incident.page"
    INCIDENT_OVERRIDE = "incident.override"
    POLICY_LOAD = "policy.load"
    TEMPLATE_SAVE = "template.save"
    MESSAGE_QUEUE = "message.queue"
    MESSAGE_DELIVER = "message.deliver"
    MESSAGE_FAIL = "message.fail"
    MESSAGE_RETRY = "message.retry"
    MESSAGE_DISMISS = "message.dismiss"
    DEMO_SEED = "demo.seed"
    MITIGATION_REQUEST = "mitigation.request"
    MITIGATION_APPROVE = "mitigation.approve"
    MITIGATION_REJECT = "mitigation.reject"
    MITIGATION_WITHDRAW = "mitigation.withdraw"
    MITIGATION_EXTEND_REQUEST = "mitigation.extend_request"
    MITIGATION_REMIND = "mitigation.remind"
    MITIGATION_EXPIRE = "mitigation.expire"
    MITIGATION_REVERT = "mitigation.revert"
    RIGHTS_LOAD = "rights.load"
    KEY_REGISTER = "key.register"
    KEY_REVOKE = "key.revoke"


class ChannelKind(StrEnum):
    """How a communication channel is reached; each has an adapter in console/comms/channels."""

    SLACK = "slack"
    TEAMS = "teams"
    WEBHOOK = "webhook"
    STATUSPAGE = "statuspage"
    EMAIL = "email"


class DeliveryState(StrEnum):
    """Where one message to one channel is: waiting, being sent, arrived, or given up on (with the reason)."""

    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


class MitigationRisk(StrEnum):
    """How bad it is if the mitigation itself goes wrong."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class MitigationState(StrEnum):
    """requested -> active (approved) -> reverted, or expired (past its expiry and not yet reverted) -> reverted;
    requested -> rejected or withdrawn."""

    REQUESTED = "requested"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    ACTIVE = "active"
    EXPIRED = "expired"
    REVERTED = "reverted"


class AskKind(StrEnum):
    """What a leader is asked to sign: the mitigation itself, or more time for it."""

    INITIAL = "initial"
    EXTENSION = "extension"


class AskState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Verdict(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
