"""Set up a fresh moto_server for the jit tests (run by tests/it/moto_server.rs).

    python3 moto_setup.py ENDPOINT SUBJECT SEED EXPECTED_CALLS

The server was started with INITIAL_NO_AUTH_ACTION_COUNT=EXPECTED_CALLS: the first that
many AWS API calls it receives are neither authenticated nor authorized, every later one
is. This script makes exactly those calls, so that everything after it is enforced:

- seeds moto's random generator with SEED (a /moto-api/ call, which is not counted), so
  that the same setup on a restarted server hands out the same access keys;
- IAM user `jit-admin` with an access key and an inline policy allowing iam:* and sts:*;
- IAM user SUBJECT (the OS user running the tests) with an access key and no policy.

It prints {"admin": [key id, secret], "subject": [key id, secret]} as JSON, and fails if
the number of API calls it made is not EXPECTED_CALLS (no retries: a retried request
would be counted twice).
"""

import json
import sys
import urllib.request

import boto3
from botocore.config import Config

ADMIN = "jit-admin"
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["iam:*", "sts:*"], "Resource": "*"}],
}


def main():
    endpoint, subject, seed, expected = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    request = urllib.request.Request(f"{endpoint}/moto-api/seed?a={seed}", method="POST")
    urllib.request.urlopen(request, timeout=30).read()

    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        # Any key does while the server is not enforcing.
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
        config=Config(retries={"total_max_attempts": 1}),
    )
    calls = []
    iam.meta.events.register("before-send", lambda request, **_: calls.append(request.url))

    iam.create_user(UserName=ADMIN)
    admin = iam.create_access_key(UserName=ADMIN)["AccessKey"]
    iam.put_user_policy(
        UserName=ADMIN, PolicyName="jit-admin", PolicyDocument=json.dumps(ADMIN_POLICY)
    )
    iam.create_user(UserName=subject)
    mine = iam.create_access_key(UserName=subject)["AccessKey"]

    if len(calls) != expected:
        sys.exit(f"setup made {len(calls)} API calls, the server allows {expected} unauthenticated")
    print(
        json.dumps(
            {
                "admin": [admin["AccessKeyId"], admin["SecretAccessKey"]],
                "subject": [mine["AccessKeyId"], mine["SecretAccessKey"]],
            }
        )
    )


if __name__ == "__main__":
    main()
