"""The table definition, generated from :mod:`.keys`: what ``agent-storage
dynamodb-table-spec`` prints and what ``create_table=True`` creates.

>>> from agent_storage_dynamodb.spec import table_spec, cloudformation
>>> client.create_table(**table_spec("agent-table"))      # boto3 / aiobotocore
"""

from __future__ import annotations

import json
from typing import Any

from .keys import GSIS, INDEXES, LSI

__all__ = ["cloudformation", "key_attributes", "table_spec", "ttl_spec"]


def key_attributes() -> list[str]:
    """Every attribute used in a key of the table or an index (all strings)."""
    names = ["pk", "sk"]
    for idx in INDEXES:
        for name in (idx.pk, idx.sk):
            if name not in names:
                names.append(name)
    return names


def _key_schema(pk: str, sk: str) -> list[dict[str, str]]:
    return [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}]


def table_spec(table_name: str) -> dict[str, Any]:
    """Keyword arguments for ``CreateTable``: keys, the LSI and every GSI the code uses."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in key_attributes()
        ],
        "KeySchema": _key_schema("pk", "sk"),
        "LocalSecondaryIndexes": [{
            "IndexName": LSI.name,
            "KeySchema": _key_schema(LSI.pk, LSI.sk),
            "Projection": {"ProjectionType": "ALL"},
        }],
        "GlobalSecondaryIndexes": [{
            "IndexName": gsi.name,
            "KeySchema": _key_schema(gsi.pk, gsi.sk),
            "Projection": {"ProjectionType": "ALL"},
        } for gsi in GSIS],
    }


def ttl_spec(table_name: str, ttl_attribute: str = "ttl") -> dict[str, Any]:
    """Keyword arguments for ``UpdateTimeToLive`` (run once after CreateTable)."""
    return {
        "TableName": table_name,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": ttl_attribute},
    }


def cloudformation(table_name: str, ttl_attribute: str = "ttl") -> str:
    """A CloudFormation resource (JSON) for the same table, TTL enabled."""
    spec = table_spec(table_name)
    props: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": spec["BillingMode"],
        "AttributeDefinitions": spec["AttributeDefinitions"],
        "KeySchema": spec["KeySchema"],
        "LocalSecondaryIndexes": spec["LocalSecondaryIndexes"],
        "GlobalSecondaryIndexes": spec["GlobalSecondaryIndexes"],
        "TimeToLiveSpecification": {"AttributeName": ttl_attribute, "Enabled": True},
    }
    doc = {"Resources": {"AgentStorageTable": {"Type": "AWS::DynamoDB::Table",
                                               "Properties": props}}}
    return json.dumps(doc, indent=2)


def main(table_name: str = "agent_storage", ttl_attribute: str = "ttl") -> str:
    """The text ``agent-storage dynamodb-table-spec`` prints."""
    return (
        "# CreateTable (aws dynamodb create-table --cli-input-json ...)\n"
        + json.dumps(table_spec(table_name), indent=2)
        + "\n\n# UpdateTimeToLive\n"
        + json.dumps(ttl_spec(table_name, ttl_attribute), indent=2)
        + "\n\n# CloudFormation\n"
        + cloudformation(table_name, ttl_attribute)
        + "\n"
    )


if __name__ == "__main__":  # python -m agent_storage_dynamodb.spec [TABLE] [TTL_ATTRIBUTE]
    import sys

    print(main(*sys.argv[1:3]), end="")
