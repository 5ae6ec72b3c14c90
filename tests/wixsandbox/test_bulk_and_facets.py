import time


def facet_counts(sandbox):
    facets = sandbox.api("GET", "/contacts/v4/contacts/facets").json()["facets"]
    return {facet["facetKey"]: facet for facet in facets}


def test_facets_count_what_the_dump_shows(sandbox):
    sandbox.reset(contacts=800, labels=25, seed=5)
    dump = sandbox.dump()

    facets = facet_counts(sandbox)

    assert facets["all-contacts"]["facetType"] == "ALL_CONTACTS"
    assert facets["all-contacts"]["count"] == 800
    assert facets["not-labeled"]["count"] == sum(not c["labelKeys"] for c in dump["contacts"])
    for label in dump["labels"]:
        facet = facets[label["key"]]
        assert facet["facetType"] == "LABEL"
        assert facet["facetDisplayName"] == label["displayName"]
        assert facet["count"] == sum(label["key"] in c["labelKeys"] for c in dump["contacts"])
    queried = sandbox.api("POST", "/contacts/v4/contacts/facets/query", json={})
    assert queried.json()["facets"] == list(facets.values())


def wait_for_job(sandbox, job_id, deadline_seconds=20):
    """Polls the job until it completes; returns every status snapshot seen on the way."""
    seen = []
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        job = sandbox.api("GET", f"/contacts/v4/bulk/jobs/{job_id}").json()["job"]
        seen.append(job)
        if job["status"] == "COMPLETED":
            return seen
    raise AssertionError(f"job {job_id} did not complete: {seen[-1]}")


def test_bulk_job_progresses_to_completed(sandbox):
    sandbox.reset(contacts=300, labels=6, seed=2)
    sandbox.control("POST", "bulk-jobs/pace", {"itemsPerSecond": 400})
    target = "custom.lead"
    dropped = "custom.newsletter"

    response = sandbox.api(
        "POST",
        "/contacts/v4/bulk/contacts/add-remove-labels",
        json={"filter": {}, "labelKeysToAdd": [target], "labelKeysToRemove": [dropped]},
    )
    seen = wait_for_job(sandbox, response.json()["jobId"])

    final = seen[-1]
    assert final["totalItems"] == 300
    assert (final["successTotal"], final["failedTotal"], final["errors"]) == (300, 0, [])
    assert final["type"] == "ADD_REMOVE_LABELS"
    assert final["finishedDate"] >= final["startedDate"]
    assert any(job["status"] == "RUNNING" and 0 < job["successTotal"] < 300 for job in seen)
    progress = [job["successTotal"] for job in seen]
    assert progress == sorted(progress)
    for contact in sandbox.dump()["contacts"]:
        assert target in contact["labelKeys"]
        assert dropped not in contact["labelKeys"]
    listed = sandbox.api("GET", "/contacts/v4/bulk/jobs").json()["jobs"]
    assert [job["id"] for job in listed] == [final["id"]]


def test_bulk_job_by_ids_and_search(sandbox):
    sandbox.control("POST", "bulk-jobs/pace", {"itemsPerSecond": 0})
    key = sandbox.api("POST", "/contacts/v4/labels", json={"displayName": "Picked"}).json()[
        "label"
    ]["key"]
    made = [
        sandbox.api(
            "POST", "/contacts/v4/contacts", json={"info": {"name": {"first": name, "last": "Doe"}}}
        ).json()["contact"]
        for name in ("Ann", "Bob", "Cy")
    ]

    by_id = sandbox.api(
        "POST",
        "/contacts/v4/bulk/contacts/add-remove-labels",
        json={"filter": {"id": {"$in": [made[0]["id"]]}}, "labelKeysToAdd": [key]},
    )
    wait_for_job(sandbox, by_id.json()["jobId"])
    by_search = sandbox.api(
        "POST",
        "/contacts/v4/bulk/contacts/add-remove-labels",
        json={"search": "bob", "labelKeysToAdd": [key]},
    )
    wait_for_job(sandbox, by_search.json()["jobId"])

    labeled = {c["id"]: key in c["labelKeys"] for c in sandbox.dump()["contacts"]}
    assert labeled == {made[0]["id"]: True, made[1]["id"]: True, made[2]["id"]: False}


def test_bulk_job_errors(sandbox):
    path = "/contacts/v4/bulk/contacts/add-remove-labels"

    unknown = sandbox.api("POST", path, json={"filter": {}, "labelKeysToAdd": ["custom.nope"]})
    no_target = sandbox.api("POST", path, json={"labelKeysToAdd": ["contacts.customers"]})
    nothing = sandbox.api("POST", path, json={"filter": {}})
    bad_filter = sandbox.api(
        "POST", path, json={"filter": {"shoe": 1}, "labelKeysToAdd": ["contacts.customers"]}
    )
    missing_job = sandbox.api("GET", "/contacts/v4/bulk/jobs/nope")

    assert unknown.status_code == 404
    assert unknown.json()["details"]["applicationError"]["code"] == "LABEL_NOT_FOUND"
    assert no_target.status_code == 400
    assert nothing.status_code == 400
    assert bad_filter.status_code == 400
    assert missing_job.status_code == 404


def test_what_a_test_set_on_the_sandbox_is_undone_before_the_next(sandbox):
    """The crash tests slow bulk jobs down; the soak test after them on the same sandbox sent a
    600-contact job at 15 a second and timed out waiting for it."""
    started_pace = sandbox.bulk_pace
    sandbox.control("POST", "bulk-jobs/pace", {"itemsPerSecond": 15})
    sandbox.set_faults("500=1")
    sandbox.set_rate_limit(3)
    sandbox.control("POST", "webhooks/url", {"url": "http://127.0.0.1:9/hooks"})

    sandbox.restore()

    assert started_pace == 2000  # wixsandbox's default
    assert sandbox.control("GET", "bulk-jobs/pace") == {"itemsPerSecond": started_pace}
    answers = [sandbox.api("GET", "/contacts/v4/labels").status_code for _ in range(5)]
    assert answers == [200] * 5  # no fault, no rate limit of 3
