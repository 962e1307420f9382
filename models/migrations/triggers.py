"""The change-log triggers as SQL, shared by the migrations that create them and by those that must recreate
them: on SQLite, Alembic's batch mode rebuilds a table to alter it, and a rebuilt table has lost its triggers."""

CHANNEL = "icc_change"

# table -> column holding the incident id
INCIDENT_TABLES = {
    "incidents": "id",
    "timeline_events": "incident_id",
    "role_assignments": "incident_id",
    "incident_services": "incident_id",
    "signals": "incident_id",
}
# Tables of 0005 whose rows belong to an incident: a message queued or a delivery settled refreshes it everywhere.
COMMS_INCIDENT_TABLES = {"messages": "incident_id", "deliveries": "incident_id"}
# Tables of 0006 whose rows belong to an incident: a request, an ask or a decision refreshes it everywhere.
MITIGATION_INCIDENT_TABLES = {"mitigations": "incident_id", "mitigation_asks": "incident_id",
                              "mitigation_decisions": "incident_id"}
# Tables of 0006 that are the organisation's: keys and rights reload with the roster.
MITIGATION_ORGANISATION_TABLES = ("signing_keys", "decision_rights", "rights_versions")
# The organisation's tables as migration 0002 knew them: a migration must keep meaning what it meant then.
ORGANISATION_TABLES_0002 = (
    "people", "person_roles", "teams", "team_members", "services", "service_dependencies", "impact_levels",
    "incident_types", "rotations", "rotation_members", "overrides", "leaves", "escalation_policies",
    "escalation_tiers",
)
# As they are now: 0004 replaced rotation_members with layers.
ORGANISATION_TABLES = (
    "people", "person_roles", "teams", "team_members", "services", "service_dependencies", "impact_levels",
    "incident_types", "rotations", "rotation_layers", "rotation_layer_members", "overrides", "leaves",
    "escalation_policies", "escalation_tiers",
)
# The naive-UTC text UTCDateTime reads back (microsecond digits padded).
_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f000', 'now')"


def postgresql_organisation_trigger(table: str) -> str:
    """Return the statement trigger that logs changes to one organisation table on PostgreSQL."""
    # One change-log row per statement is enough: consoles reload the organisation as a whole.
    return f"""CREATE TRIGGER icc_change_{table} AFTER INSERT OR UPDATE OR DELETE ON "{table}"
               FOR EACH STATEMENT EXECUTE FUNCTION icc_log_change('organisation', '')"""


def postgresql_incident_trigger(table: str, column: str) -> str:
    """Return the row trigger that logs changes to a table of incident rows on PostgreSQL."""
    return f"""CREATE TRIGGER icc_change_{table} AFTER INSERT OR UPDATE OR DELETE ON "{table}"
               FOR EACH ROW EXECUTE FUNCTION icc_log_change('incident', '{column}')"""


def sqlite_triggers(table: str) -> list[str]:
    """Return the CREATE TRIGGER statements that log changes to one table on SQLite."""
    statements = []
    column = INCIDENT_TABLES.get(table) or COMMS_INCIDENT_TABLES.get(table) or MITIGATION_INCIDENT_TABLES.get(table)
    for verb, ref in (("insert", "NEW"), ("update", "NEW"), ("delete", "OLD")):
        if column is not None:
            statements.append(f"""CREATE TRIGGER icc_change_{table}_{verb} AFTER {verb.upper()} ON "{table}"
                                  WHEN {ref}.{column} IS NOT NULL
                                  BEGIN INSERT INTO change_log (at, entity, entity_id)
                                        VALUES ({_SQLITE_NOW}, 'incident', {ref}.{column}); END""")
        else:
            statements.append(f"""CREATE TRIGGER icc_change_{table}_{verb} AFTER {verb.upper()} ON "{table}"
                                  BEGIN INSERT INTO change_log (at, entity, entity_id)
                                        VALUES ({_SQLITE_NOW}, 'organisation', 0); END""")
    return statements
