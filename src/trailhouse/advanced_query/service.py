"""Advanced query templates and history, kept per account as metadata documents.

A template is a named statement a user saves to reuse (at most `MAX_TEMPLATES` per account); the
history is the statements a user ran, newest first, the oldest dropped past `MAX_HISTORY`. Both
are scoped by the caller's account: another account's id is simply not found.
"""

from __future__ import annotations

import base64
import secrets

import msgspec
import msgspec.structs

from trailhouse.advanced_query.statements import parse
from trailhouse.retry import retry_on_conflict
from trailhouse.store.ports import DocumentWrite, MetadataStore

TEMPLATE_KIND = "advanced-query-template"
HISTORY_KIND = "advanced-query-history"
MAX_TEMPLATES = 100
MAX_HISTORY = 100
MAX_TEMPLATE_NAME = 64


class TemplateNotFound(LookupError):
    """No template of the account has this id."""


class QueryNotFound(LookupError):
    """No history record of the account has this id."""


class TooManyTemplates(ValueError):
    """The account already has `MAX_TEMPLATES` templates."""


class Template(msgspec.Struct, frozen=True):
    """A saved statement."""

    template_id: str
    name: str
    sql: str
    simple_query: bool
    created_ms: int


class QueryRecord(msgspec.Struct, frozen=True):
    """A statement the user ran, and when."""

    query_id: str
    sql: str
    simple_query: bool
    created_ms: int


class AdvancedQueries:
    """Templates and history of an account's statements."""

    def __init__(self, metadata: MetadataStore) -> None:
        self._metadata = metadata

    # Templates

    def create_template(
        self, account_id: str, name: str, sql: str, simple_query: bool, now_ms: int
    ) -> Template:
        """Save a statement (checked by `statements.parse`) under a new id."""
        parse(sql)
        template = Template(_new_id(), name, sql, simple_query, now_ms)
        if len(self._metadata.list_documents(TEMPLATE_KIND, account_id)) >= MAX_TEMPLATES:
            raise TooManyTemplates(account_id)
        body = msgspec.json.encode(template)
        self._metadata.commit(
            [DocumentWrite(TEMPLATE_KIND, account_id, template.template_id, body, 0)]
        )
        return template

    def get_template(self, account_id: str, template_id: str) -> Template:
        """The account's template with this id."""
        document = self._metadata.get_document(TEMPLATE_KIND, account_id, template_id)
        if document is None:
            raise TemplateNotFound(template_id)
        return msgspec.json.decode(document.body, type=Template)

    def list_templates(self, account_id: str, name_contains: str = "") -> list[Template]:
        """The account's templates, newest first; those whose name contains `name_contains`."""
        templates = [
            msgspec.json.decode(document.body, type=Template)
            for document in self._metadata.list_documents(TEMPLATE_KIND, account_id)
        ]
        wanted = name_contains.lower()
        chosen = [t for t in templates if wanted in t.name.lower()]
        return sorted(chosen, key=lambda t: (-t.created_ms, t.template_id))

    def update_template(
        self,
        account_id: str,
        template_id: str,
        name: str | None,
        sql: str | None,
        simple_query: bool | None,
    ) -> Template:
        """Change the given fields of a template; the others stay."""
        if sql is not None:
            parse(sql)

        def attempt() -> Template:
            document = self._metadata.get_document(TEMPLATE_KIND, account_id, template_id)
            if document is None:
                raise TemplateNotFound(template_id)
            current = msgspec.json.decode(document.body, type=Template)
            changed = replace_fields(current, name, sql, simple_query)
            self._metadata.commit(
                [
                    DocumentWrite(
                        TEMPLATE_KIND,
                        account_id,
                        template_id,
                        msgspec.json.encode(changed),
                        document.version,
                    )
                ]
            )
            return changed

        return retry_on_conflict(attempt, what=f"advanced query template {template_id}")

    def delete_template(self, account_id: str, template_id: str) -> None:
        """Delete the account's template."""

        def attempt() -> None:
            document = self._metadata.get_document(TEMPLATE_KIND, account_id, template_id)
            if document is None:
                raise TemplateNotFound(template_id)
            self._metadata.commit(
                [DocumentWrite(TEMPLATE_KIND, account_id, template_id, None, document.version)]
            )

        retry_on_conflict(attempt, what=f"advanced query template {template_id}")

    # History

    def record_query(
        self, account_id: str, sql: str, simple_query: bool, now_ms: int
    ) -> QueryRecord:
        """Add a statement to the account's history, dropping the oldest past MAX_HISTORY."""
        parse(sql)
        record = QueryRecord("query-" + _new_id(), sql, simple_query, now_ms)

        def attempt() -> None:
            documents = self._metadata.list_documents(HISTORY_KIND, account_id)
            records = sorted(
                ((msgspec.json.decode(d.body, type=QueryRecord), d) for d in documents),
                key=lambda pair: (pair[0].created_ms, pair[0].query_id),
            )
            dropped = records[: max(0, len(records) + 1 - MAX_HISTORY)]
            writes = [
                DocumentWrite(HISTORY_KIND, account_id, d.name, None, d.version) for _, d in dropped
            ]
            writes.append(
                DocumentWrite(
                    HISTORY_KIND, account_id, record.query_id, msgspec.json.encode(record), 0
                )
            )
            self._metadata.commit(writes)

        retry_on_conflict(attempt, what=f"the advanced query history of account {account_id}")
        return record

    def history(self, account_id: str) -> list[QueryRecord]:
        """The account's history, newest first."""
        records = [
            msgspec.json.decode(document.body, type=QueryRecord)
            for document in self._metadata.list_documents(HISTORY_KIND, account_id)
        ]
        return sorted(records, key=lambda r: (-r.created_ms, r.query_id))

    def delete_query(self, account_id: str, query_id: str) -> None:
        """Delete one record of the account's history."""

        def attempt() -> None:
            document = self._metadata.get_document(HISTORY_KIND, account_id, query_id)
            if document is None:
                raise QueryNotFound(query_id)
            self._metadata.commit(
                [DocumentWrite(HISTORY_KIND, account_id, query_id, None, document.version)]
            )

        retry_on_conflict(attempt, what=f"advanced query record {query_id}")


def replace_fields(
    template: Template, name: str | None, sql: str | None, simple_query: bool | None
) -> Template:
    """The template with the given fields replaced."""
    return msgspec.structs.replace(
        template,
        name=template.name if name is None else name,
        sql=template.sql if sql is None else sql,
        simple_query=template.simple_query if simple_query is None else simple_query,
    )


def _new_id() -> str:
    """A 22-character id like ActionTrail's (`x4a0Tw5dQy2J6IRJxf4kng`)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
