"""Bulk API 2.0 query jobs on the emulator, driven through simple-salesforce 1.12's ``bulk2`` as a
client would, and with raw requests where simple-salesforce hides the answer (412, 409, 204)."""

from __future__ import annotations

import csv
import io

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceOperationError

from sync.emulator.bulkcsv import plain_decimal
from tests.fixtures.emulator import trusting_session
from tests.fixtures.salesforce_bodies import fixture

WAIT = 0.01  # simple-salesforce sleeps this long before its first poll (its default is 5 s)
DEALS = "SELECT Id, Name FROM Opportunity"


@pytest.fixture
def http(emulator):
    session = trusting_session(emulator)
    session.headers["Authorization"] = f"Bearer {emulator.issue_token()}"
    return session


def _jobs(emulator, path="", version="62.0"):
    return f"{emulator.url}/services/data/v{version}/jobs/query{path}"


def _create(emulator, http, query=DEALS, **options):
    answer = http.post(_jobs(emulator), json={"operation": "query", "query": query, **options})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _completed(emulator, http, query=DEALS, **options):
    job = _create(emulator, http, query, **options)
    while http.get(_jobs(emulator, f"/{job['id']}")).json()["state"] != "JobComplete":
        pass
    return job["id"]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _deal(emulator, **fields):
    return emulator.create(
        "Opportunity", **{"StageName": "Prospecting", "CloseDate": "2026-03-01", **fields}
    )


# -------------------------------------------------------------------------- lifecycle


def test_query_through_simple_salesforce_polls_then_reads_every_row(emulator, sf):
    emulator.seed(120, seed=1)
    sets = list(sf.bulk2.Opportunity.query(DEALS, wait=WAIT))
    assert len(sets) == 1
    header, *rows = _rows(sets[0])
    assert header == ["Id", "Name"] and len(rows) == 120
    assert {row[0] for row in rows} == set(emulator.ids())
    assert emulator.calls_snapshot() == {"bulk2_create": 1, "bulk2_poll": 2, "bulk2_results": 1}


def test_create_answers_job_info_and_polls_move_it_to_job_complete(emulator, http):
    emulator.seed(5, seed=2)
    created = _create(emulator, http, lineEnding="CRLF", columnDelimiter="COMMA", contentType="CSV")
    assert list(created) == [
        "id",
        "operation",
        "object",
        "createdById",
        "createdDate",
        "systemModstamp",
        "state",
        "concurrencyMode",
        "contentType",
        "apiVersion",
        "lineEnding",
        "columnDelimiter",
    ]
    assert created["id"].startswith("750") and len(created["id"]) == 18
    assert (created["state"], created["object"], created["apiVersion"], created["lineEnding"]) == (
        "UploadComplete",
        "Opportunity",
        62.0,
        "CRLF",
    )
    assert created["createdById"] == emulator.user_id
    url = _jobs(emulator, f"/{created['id']}")
    running = http.get(url).json()
    assert running["state"] == "InProgress" and "numberRecordsProcessed" not in running
    done = http.get(url).json()
    assert done["state"] == "JobComplete" and done["jobType"] == "V2Query"
    assert (
        done["numberRecordsProcessed"] == 5
        and done["retries"] == 0
        and done["totalProcessingTime"] >= 0
    )
    assert http.get(url).json()["state"] == "JobComplete"


def test_the_number_of_unfinished_polls_is_set_through_the_control_api(emulator, http):
    control = trusting_session(emulator)
    control.headers["Authorization"] = f"Bearer {emulator.admin_token}"
    assert control.post(f"{emulator.url}/__emulator/set_bulk", json={"polls": 3}).status_code == 200
    url = _jobs(emulator, f"/{_create(emulator, http)['id']}")
    assert [http.get(url).json()["state"] for _ in range(4)] == ["InProgress"] * 3 + ["JobComplete"]
    emulator.set_bulk(polls=0)
    assert (
        http.get(_jobs(emulator, f"/{_create(emulator, http)['id']}")).json()["state"]
        == "JobComplete"
    )
    with pytest.raises(ValueError):
        emulator.set_bulk(polls=-1)


def test_a_failed_job_fault_ends_the_job_failed_with_its_message(emulator, sf, http):
    emulator.fault("bulk_failure", message="InternalServerError : boom")
    with pytest.raises(SalesforceOperationError, match="InternalServerError : boom"):
        list(sf.bulk2.Opportunity.query(DEALS, wait=WAIT))
    job_id = emulator.log_snapshot()[-1]["path"].rsplit("/", 1)[1]
    info = http.get(_jobs(emulator, f"/{job_id}")).json()
    assert info["state"] == "Failed" and info["errorMessage"] == "InternalServerError : boom"
    answer = http.get(_jobs(emulator, f"/{job_id}/results"))
    assert answer.status_code == 412 and answer.json()[0]["message"].endswith(
        "Current status: FAILED"
    )
    assert list(sf.bulk2.Opportunity.query(DEALS, wait=WAIT))  # one job only


# ----------------------------------------------------------------------------- results


def test_results_come_in_sets_of_max_records_with_locators_and_a_literal_null(emulator, http):
    emulator.seed(25, seed=3)
    job_id = _completed(emulator, http, "SELECT Id FROM Opportunity")
    url = _jobs(emulator, f"/{job_id}/results")
    seen, locator, answers = [], None, []
    while locator != "null":
        answer = http.get(
            url, params={"maxRecords": 10, **({"locator": locator} if locator else {})}
        )
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
        answers.append(answer)
        rows = _rows(answer.text)
        assert rows[0] == ["Id"] and int(answer.headers["Sforce-NumberOfRecords"]) == len(rows) - 1
        seen += [row[0] for row in rows[1:]]
        locator = answer.headers["Sforce-Locator"]
    assert [a.headers["Sforce-NumberOfRecords"] for a in answers] == ["10", "10", "5"]
    assert (
        answers[0].headers["Sforce-Locator"] == "MTA"
    )  # like an org's: "MTAwMDA" is the set from 10000
    assert sorted(seen) == sorted(emulator.ids())
    again = http.get(
        url, params={"maxRecords": 10, "locator": answers[0].headers["Sforce-Locator"]}
    )
    assert again.text == answers[1].text  # a locator stays valid while its job exists
    assert http.get(url, params={"locator": "bm9wZQ"}).status_code == 400


def test_without_max_records_a_set_holds_the_default_number_of_rows(emulator, sf, http):
    emulator.seed(12, seed=4)
    assert emulator.bulk.max_records == 50_000
    emulator.set_bulk(max_records=5)
    answer = http.get(_jobs(emulator, f"/{_completed(emulator, http)}/results"))
    assert (
        answer.headers["Sforce-NumberOfRecords"] == "5"
        and answer.headers["Sforce-Locator"] != "null"
    )
    sets = list(sf.bulk2.Opportunity.query(DEALS, max_records=5, wait=WAIT))
    assert [len(_rows(text)) - 1 for text in sets] == [5, 5, 2]


def test_download_writes_one_file_per_set(emulator, sf, tmp_path):
    emulator.seed(7, seed=5)
    results = sf.bulk2.Opportunity.download(DEALS, path=str(tmp_path), max_records=3, wait=WAIT)
    assert [r["number_of_records"] for r in results] == [3, 3, 1]
    assert sum(len(_rows(open(r["file"], encoding="utf-8").read())) - 1 for r in results) == 7


def test_results_before_job_complete_answer_412_with_the_real_body(emulator, http):
    job_id = _create(emulator, http)["id"]
    early = http.get(_jobs(emulator, f"/{job_id}/results"))
    assert early.status_code == 412 and early.json()[0]["message"].endswith(
        "Current status: UPLOAD_COMPLETE"
    )
    http.get(_jobs(emulator, f"/{job_id}"))
    answer = http.get(_jobs(emulator, f"/{job_id}/results"))
    assert answer.status_code == 412
    assert answer.json() == fixture("bulk2-job-not-complete-412.json")
    assert list(answer.json()[0]) == list(fixture("bulk2-job-not-complete-412.json")[0])


def test_results_asked_with_another_api_version_answer_409(emulator, http):
    job_id = _completed(emulator, http)
    assert http.get(_jobs(emulator, f"/{job_id}/results", version="58.0")).status_code == 409
    assert http.get(_jobs(emulator, f"/{job_id}/results")).status_code == 200
    assert (
        http.post(
            _jobs(emulator, version="46.0"), json={"operation": "query", "query": DEALS}
        ).status_code
        == 404
    )


# ------------------------------------------------------------------------ abort/delete


def test_abort_and_delete(emulator, sf, http):
    job_id = _create(emulator, http)["id"]
    assert (
        http.delete(_jobs(emulator, f"/{job_id}")).json()[0]["errorCode"] == "API_ERROR"
    )  # not terminated
    aborted = sf.bulk2.Opportunity._client.abort_job(job_id, True)
    assert aborted["state"] == "Aborted"
    assert http.get(_jobs(emulator, f"/{job_id}")).json()["state"] == "Aborted"
    answer = http.get(_jobs(emulator, f"/{job_id}/results"))
    assert answer.status_code == 412 and answer.json()[0]["message"].endswith(
        "Current status: ABORTED"
    )
    assert http.patch(_jobs(emulator, f"/{job_id}"), json={"state": "Aborted"}).status_code == 400
    gone = http.delete(_jobs(emulator, f"/{job_id}"))
    assert gone.status_code == 204 and gone.content == b""
    assert http.get(_jobs(emulator, f"/{job_id}")).status_code == 404
    assert http.get(_jobs(emulator, f"/{job_id}/results")).status_code == 404
    done = _completed(emulator, http)
    assert http.patch(_jobs(emulator, f"/{done}"), json={"state": "Aborted"}).status_code == 400
    assert http.delete(_jobs(emulator, f"/{done}")).status_code == 204


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "query",
    [
        "SELECT COUNT() FROM Opportunity",
        "SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName",
        "SELECT Id FROM Opportunity GROUP BY Id",
        "SELECT Id FROM Opportunity ORDER BY Id LIMIT 5 OFFSET 10",
        "SELECT TYPEOF Owner WHEN User THEN Name END FROM Opportunity",
        "SELECT FIELDS(ALL) FROM Opportunity LIMIT 200",
        "SELECT Name, (SELECT Id FROM Opportunities) FROM Account",
    ],
)
def test_unsupported_queries_are_refused_at_create(emulator, sf, http, query):
    answer = http.post(_jobs(emulator), json={"operation": "query", "query": query})
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "INVALIDJOB"
    with pytest.raises(SalesforceMalformedRequest):
        list(sf.bulk2.Opportunity.query(query, wait=WAIT))
    assert emulator.calls_snapshot()["bulk2_create"] == 2


def test_keywords_inside_literals_are_values_and_soql_errors_keep_their_codes(emulator, http):
    _deal(emulator, Name="GROUP BY count(x) OFFSET")
    job_id = _completed(
        emulator, http, "SELECT Name FROM Opportunity WHERE Name = 'GROUP BY count(x) OFFSET'"
    )
    assert _rows(http.get(_jobs(emulator, f"/{job_id}/results")).text)[1] == [
        "GROUP BY count(x) OFFSET"
    ]
    answer = http.post(
        _jobs(emulator), json={"operation": "query", "query": "SELECT Nope FROM Opportunity"}
    )
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "INVALID_FIELD"
    answer = http.post(_jobs(emulator), json={"operation": "insert", "query": DEALS})
    assert answer.status_code == 400


# ---------------------------------------------------------------------------------- CSV


def test_csv_quotes_commas_quotes_newlines_and_keeps_non_ascii(emulator, sf):
    name = 'Café, "Big" deal — 東京'
    description = 'line one\nline two, with "quotes"\r\nline three'
    deal = _deal(emulator, Name=name, Description=description)
    (text,) = sf.bulk2.Opportunity.query("SELECT Id, Name, Description FROM Opportunity", wait=WAIT)
    assert text == (
        '"Id","Name","Description"\n'
        f'"{deal}","Café, ""Big"" deal — 東京",'
        '"line one\nline two, with ""quotes""\r\nline three"\n'
    )
    assert _rows(text)[1] == [deal, name, description]


def test_values_render_as_an_org_writes_them(emulator, sf):
    account = emulator.create("Account", Name="Acme", AnnualRevenue=1.5e16, NumberOfEmployees=250)
    deal = _deal(
        emulator,
        Name="x",
        AccountId=account,
        Amount=1234.5,
        Probability=10,
        _stamp="2026-03-01T10:00:00Z",
    )
    query = (
        "SELECT Id, Amount, Probability, CloseDate, SystemModstamp, IsWon, Description, "
        "Account.Name, Account.AnnualRevenue, Account.NumberOfEmployees FROM Opportunity"
    )
    (text,) = sf.bulk2.Opportunity.query(query, wait=WAIT)
    header, line, _ = text.split("\n")
    assert header == (
        '"Id","Amount","Probability","CloseDate","SystemModstamp","IsWon","Description",'
        '"Account.Name","Account.AnnualRevenue","Account.NumberOfEmployees"'
    )
    assert line == (
        f'"{deal}","1234.5","10.0","2026-03-01","2026-03-01T10:00:00.000Z","false",,'
        '"Acme","15000000000000000.0","250"'
    )


def test_parent_fields_of_a_record_without_parent_are_empty_and_columns_keep_the_requested_order(
    emulator, sf
):
    deal = _deal(emulator, Name="orphan")
    (text,) = sf.bulk2.Opportunity.query(
        "SELECT account.name, NAME, id FROM Opportunity", wait=WAIT
    )
    assert text == f'"Account.Name","Name","Id"\n,"orphan","{deal}"\n'


def test_crlf_line_ending_and_another_delimiter(emulator, http):
    first, second = _deal(emulator, Name="a\nb"), _deal(emulator, Name="c")
    job_id = _completed(
        emulator,
        http,
        "SELECT Id, Name FROM Opportunity ORDER BY Name",
        lineEnding="CRLF",
        columnDelimiter="SEMICOLON",
    )
    text = http.get(_jobs(emulator, f"/{job_id}/results")).content.decode("utf-8")
    assert text == f'"Id";"Name"\r\n"{first}";"a\nb"\r\n"{second}";"c"\r\n'


def test_query_all_includes_deleted_rows_and_query_does_not(emulator, sf):
    kept, gone = _deal(emulator, Name="kept"), _deal(emulator, Name="gone")
    emulator.delete(gone)
    (live,) = sf.bulk2.Opportunity.query("SELECT Id, IsDeleted FROM Opportunity", wait=WAIT)
    (every,) = sf.bulk2.Opportunity.query_all("SELECT Id, IsDeleted FROM Opportunity", wait=WAIT)
    assert _rows(live)[1:] == [[kept, "false"]]
    assert sorted(_rows(every)[1:]) == sorted([[kept, "false"], [gone, "true"]])


def test_the_job_is_a_snapshot_taken_at_create(emulator, http):
    deal = _deal(emulator, Name="before")
    job_id = _create(emulator, http, "SELECT Id, Name FROM Opportunity")["id"]
    emulator.update("Opportunity", deal, Name="after")
    _deal(emulator, Name="late")
    while http.get(_jobs(emulator, f"/{job_id}")).json()["state"] != "JobComplete":
        pass
    assert _rows(http.get(_jobs(emulator, f"/{job_id}/results")).text)[1:] == [[deal, "before"]]


# ------------------------------------------------------------------------ counting


def test_every_bulk_call_is_counted_and_charged_to_the_daily_budget(emulator, sf, http):
    emulator.seed(4, seed=6)
    job_id = _create(emulator, http)["id"]
    http.get(_jobs(emulator, f"/{job_id}/results"))  # 412, still a call
    http.get(_jobs(emulator, f"/{job_id}"))
    http.get(_jobs(emulator, f"/{job_id}"))
    http.get(_jobs(emulator, f"/{job_id}/results"), params={"maxRecords": 2})
    http.get(_jobs(emulator, f"/{job_id}/results", version="61.0"))  # 409, still a call
    http.delete(_jobs(emulator, f"/{job_id}"))
    other = _create(emulator, http)["id"]
    http.patch(_jobs(emulator, f"/{other}"), json={"state": "Aborted"})
    assert emulator.calls_snapshot() == {
        "bulk2_create": 2,
        "bulk2_results": 3,
        "bulk2_poll": 2,
        "bulk2_delete": 1,
        "bulk2_abort": 1,
    }
    assert emulator.api_used == 9
    answer = http.get(_jobs(emulator, f"/{other}"))
    assert "api-usage=10/" in answer.headers["Sforce-Limit-Info"]
    emulator.set_budget(used=15000)
    spent = http.post(_jobs(emulator), json={"operation": "query", "query": DEALS})
    assert spent.status_code == 403 and spent.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1.5e16, "15000000000000000.0"),
        (1e20, "100000000000000000000.0"),
        (1e-05, "0.00001"),
        (-2.5e-07, "-0.00000025"),
        (0.1, "0.1"),
        (50000.0, "50000.0"),
    ],
)
def test_numbers_are_plain_decimals_never_exponents(number, text):
    assert plain_decimal(number) == text
