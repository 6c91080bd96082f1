"""How an attempt ended, from what it raised: the one table that maps library errors to ours (no browser needed)."""

from __future__ import annotations

import asyncio

import pytest
from playwright._impl._errors import TargetClosedError
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from funnelwatch import Category, Status
from funnelwatch.errors import MonitorProblem, StepFailed
from funnelwatch.outcome import classify


@pytest.mark.parametrize("exc, alive, crashed, expected", [
    (StepFailed(Category.HTTP_STATUS, "answered HTTP 404"), True, False, (Status.FAIL, Category.HTTP_STATUS, "answered HTTP 404")),
    (MonitorProblem(Category.INBOX, "inbox down"), True, False, (Status.ERROR, Category.INBOX, "inbox down")),
    (MonitorProblem(Category.INBOX, "inbox down"), False, True, (Status.ERROR, Category.INBOX, "inbox down")),
    (PlaywrightTimeout("Locator.click: Timeout 30000ms exceeded."), True, False,
     (Status.FAIL, Category.TIMEOUT, "step 'form' timed out after 30s while trying to click")),
    (PlaywrightTimeout("Page.waitForSelector: Timeout 5000ms exceeded."), True, False,
     (Status.FAIL, Category.TIMEOUT, "step 'form' timed out after 5s while trying to wait for selector")),
    (asyncio.TimeoutError(), True, False, (Status.FAIL, Category.TIMEOUT, "step 'form' did not finish in time")),
    (TargetClosedError(), True, False, (Status.ERROR, Category.BROWSER, "the browser closed unexpectedly during step 'form'")),
    (StepFailed(Category.CONNECTION, "net::ERR_CONNECTION_CLOSED"), False, False,
     (Status.ERROR, Category.BROWSER, "the browser closed unexpectedly during step 'form'")),
    (asyncio.TimeoutError(), False, False, (Status.ERROR, Category.BROWSER, "the browser closed unexpectedly during step 'form'")),
    (PlaywrightError("Page crashed"), True, True,
     (Status.FAIL, Category.CONNECTION, "the page crashed the browser tab (out of memory or a browser bug) during step 'form'")),
    (StepFailed(Category.TEXT_MISSING, "no text"), True, True,
     (Status.FAIL, Category.CONNECTION, "the page crashed the browser tab (out of memory or a browser bug) during step 'form'")),
    (KeyError("boom"), True, False, (Status.ERROR, Category.INTERNAL, "funnelwatch could not finish step 'form': KeyError: 'boom'")),
    # The text of an error never decides: a site's message that mentions a closed browser is still the site's failure.
    (StepFailed(Category.FORM_HTTP_ERROR, "the server said: target closed"), True, False,
     (Status.FAIL, Category.FORM_HTTP_ERROR, "the server said: target closed")),
    (PlaywrightError("Target page, context or browser has been closed"), True, False,
     (Status.ERROR, Category.INTERNAL, "funnelwatch could not finish step 'form': Error: Target page, context or browser has been closed")),
])
def test_an_exception_maps_to_status_category_and_reason_by_type(exc, alive, crashed, expected):
    verdict = classify(exc, "form", browser_alive=alive, tab_crashed=crashed)
    assert (verdict.status, verdict.category, verdict.reason) == expected


def test_a_step_failure_keeps_its_evidence():
    verdict = classify(StepFailed(Category.WRONG_ASSET, "wrong PDF", asset={"title": "GDPR"}), "asset")
    assert verdict.evidence == {"asset": {"title": "GDPR"}}
