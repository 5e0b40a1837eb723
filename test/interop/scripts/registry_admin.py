#!/usr/bin/env python3
"""Registry housekeeping with plain `requests`, the way an operator scripts it.

Given a registry's base URL (for example http://localhost:5000), it lists every repository
(following the catalog's Link header page by page), lists each repository's tags, resolves each
tag to a digest with HEAD and an Accept header naming every manifest type, deletes each digest,
and lists the tags again. Every request and its result is printed, one line each, so two
registries can be compared by their output.

Usage: registry_admin.py BASE_URL [PAGE_SIZE]
"""
import json
import re
import sys

import requests

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)

NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


def show(body):
    """JSON as one line with sorted keys, so equal documents print equally."""
    return json.dumps(body, sort_keys=True)


def error_codes(response):
    """The spec's error codes of an error response (messages are free text and not compared)."""
    try:
        return ",".join(error["code"] for error in response.json()["errors"])
    except (ValueError, KeyError, TypeError):
        return "(no error body)"


def report(method, path, response, result=""):
    if response.status_code >= 400:
        result = "errors=" + error_codes(response)
    print(f"{method} {path} -> {response.status_code} {result}".rstrip())


def list_repositories(session, base, page_size):
    repositories = []
    path = f"/v2/_catalog?n={page_size}"
    while path:
        response = session.get(base + path)
        report("GET", path, response, show(response.json()) if response.ok else "")
        response.raise_for_status()
        repositories.extend(response.json().get("repositories") or [])
        match = NEXT_LINK.search(response.headers.get("Link", ""))
        path = match.group(1) if match else None
    return repositories


def list_tags(session, base, repository):
    path = f"/v2/{repository}/tags/list"
    response = session.get(base + path)
    report("GET", path, response, show(response.json()) if response.ok else "")
    return (response.json().get("tags") or []) if response.ok else []


def resolve(session, base, repository, tag):
    path = f"/v2/{repository}/manifests/{tag}"
    response = session.head(base + path, headers={"Accept": MANIFEST_TYPES})
    digest = response.headers.get("Docker-Content-Digest")
    media_type = response.headers.get("Content-Type")
    size = response.headers.get("Content-Length")
    report("HEAD", path, response, f"digest={digest} type={media_type} size={size}")
    return digest if response.ok else None


def delete(session, base, repository, digest):
    path = f"/v2/{repository}/manifests/{digest}"
    response = session.delete(base + path)
    report("DELETE", path, response)


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    base = sys.argv[1].rstrip("/")
    page_size = int(sys.argv[2]) if len(sys.argv) == 3 else 100
    session = requests.Session()
    response = session.get(base + "/v2/")
    report("GET", "/v2/", response, "api=" + str(response.headers.get("Docker-Distribution-API-Version")))
    for repository in list_repositories(session, base, page_size):
        digests = []
        # Sorted here: registries do not all return tags in the same order.
        for tag in sorted(list_tags(session, base, repository)):
            digest = resolve(session, base, repository, tag)
            if digest and digest not in digests:
                digests.append(digest)
        for digest in digests:
            delete(session, base, repository, digest)
        list_tags(session, base, repository)
    return 0


if __name__ == "__main__":
    sys.exit(main())
