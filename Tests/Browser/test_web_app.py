"""The web app in headless Chromium (Selenium), against a live `make run` stack.

Started by scripts/browser_test.sh, which passes the app's address, the run's API key, a local
target page and a folder for artifacts in the environment. Each step asserts what a person
would see; on a failure the screenshot and the browser's console log are saved and their paths
printed. The QR codes are read back by an independent decoder (zbarimg; SVG rasterised by
rsvg-convert first).
"""
import http.client
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as expected
from selenium.webdriver.support.ui import Select, WebDriverWait

APP = os.environ["SHORTENER_APP_URL"]
KEY = os.environ["SHORTENER_API_KEY"]
TARGET = os.environ["SHORTENER_TARGET_URL"]
ARTIFACTS = Path(os.environ["SHORTENER_ARTIFACTS"])
SCREENSHOT = os.environ.get("BROWSER_SCREENSHOT")
DOWNLOADS = Path(tempfile.mkdtemp(prefix="shortener-downloads-"))
# Clicks reach the page within a report interval (5 s) plus the page's own refresh (5 s).
CLICK_WAIT = 40
# A second short domain: the browser resolves it to this machine, so a short URL on it reaches the
# replica with its own Host.
SECOND_DOMAIN = "go.example"
# Clicks by people, as other browsers would send them, on both replicas: (User-Agent, Referer).
PEOPLE = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
     "https://www.example.org/blog"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
     "Mobile/15E148 Safari/604.1", "https://news.example.net/"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", None),
]


def browser(width, height):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={max(width, 500)},{height}", "--lang=en-US",
                     f"--host-resolver-rules=MAP {SECOND_DOMAIN} 127.0.0.1"):
        options.add_argument(argument)
    if width < 500:  # a headless window is never narrower than 500 px: emulate a phone's viewport
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1}})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(DOWNLOADS),
                                              "download.prompt_for_download": False})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


def api(method, path, body=None, raw=False):
    request = urllib.request.Request(APP.rstrip("/") + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {KEY}",
                                              **({} if body is None else {"Content-Type": "application/json"})})
    with urllib.request.urlopen(request, timeout=10) as response:
        data = response.read()
        return data if raw else json.loads(data or b"null")


def click_as_people(short_url):
    """Follows `short_url` on both replicas as each of PEOPLE; returns how many clicks."""
    code = short_url.rsplit("/", 1)[1]
    replicas = [short_url.rsplit("/", 1)[0], os.environ["SHORTENER_REPLICA_B_URL"]]
    clicks = 0
    for base in replicas:
        for agent, referer in PEOPLE:
            headers = {"User-Agent": agent}
            if referer:
                headers["Referer"] = referer
            host, port = base.split("//")[1].split(":")
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            connection.request("GET", f"/{code}", headers=headers)
            response = connection.getresponse()
            assert response.status == 302 and response.headers["Location"] == TARGET, response.status
            connection.close()
            clicks += 1
    return clicks


def decode(image_bytes, suffix):
    """The text zbarimg reads in an image (SVG rasterised first)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"code{suffix}"
        path.write_bytes(image_bytes)
        if suffix == ".svg":
            png = Path(folder) / "code.png"
            subprocess.run(["rsvg-convert", "-b", "white", "-o", str(png), str(path)], check=True)
            path = png
        result = subprocess.run(["zbarimg", "--raw", "-q", str(path)], capture_output=True, text=True)
        return result.stdout.strip()


class Steps:
    def __init__(self, driver):
        self.driver = driver
        self.wait = WebDriverWait(driver, 15)
        self.step = "start"

    def say(self, step):
        self.step = step
        print(f"  · {step}", flush=True)

    def find(self, css):
        return self.wait.until(expected.presence_of_element_located((By.CSS_SELECTOR, css)))

    def text_of(self, css, text, timeout=15):
        WebDriverWait(self.driver, timeout).until(expected.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))

    def field(self, name, value):
        element = self.find(f"#{name}")
        element.clear()
        element.send_keys(value)

    def save_artifacts(self, name):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{name}.png"
        console = ARTIFACTS / f"{name}-console.log"
        self.driver.save_screenshot(str(shot))
        console.write_text("".join(f"{entry['level']} {entry['message']}\n" for entry in self.driver.get_log("browser")))
        return shot, console


def check_headers():
    with urllib.request.urlopen(APP, timeout=10) as response:
        policy = response.headers["Content-Security-Policy"] or ""
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy, policy
        assert "frame-ancestors 'none'" in policy, policy
        assert response.headers["ETag"] and response.headers["Cache-Control"], dict(response.headers)
    with urllib.request.urlopen(APP + "app/app.js", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/javascript"), response.headers["Content-Type"]
        etag = response.headers["ETag"]
    request = urllib.request.Request(APP + "app/app.js", headers={"If-None-Match": etag})
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("a matching If-None-Match did not answer 304")
    except urllib.error.HTTPError as error:
        assert error.code == 304, error.code


def check_qr_codes():
    """Many codes, sizes, margins, levels and both formats decode to the short URL."""
    links = [api("POST", "/create", {"url": f"{TARGET}?qr={index}"}) for index in range(8)]
    links.append(api("POST", "/create", {"url": TARGET, "alias": f"qr-{secrets.token_hex(20)}"}))
    checked = 0
    for index, link in enumerate(links):
        for size, margin, level in ((128, 4, "M"), (256, 4, "L"), (333, 2, "H"), (600, 4, "Q")):
            for suffix in (".svg", ".png"):
                if (index + size) % 2 and suffix == ".svg" and size == 600:
                    continue
                image = api("GET", f"/api/links/{link['code']}/qr?format={suffix[1:]}&size={size}"
                                   f"&margin={margin}&level={level}", raw=True)
                text = decode(image, suffix)
                assert text == link["short_url"], (link, size, margin, level, suffix, text)
                checked += 1
    print(f"  · {checked} QR codes of {len(links)} links decoded to their short URLs")


def tour(steps):
    driver = steps.driver
    steps.say("the app asks for a key; a wrong one is refused on its field")
    driver.get(APP)
    driver.execute_script("window.__sameDocument = true")
    steps.field("api-key", "sk_wrong")
    steps.find("form button[type=submit]").click()
    steps.text_of("#key-error", "not valid")
    assert steps.find("#api-key").get_attribute("aria-invalid") == "true"

    steps.say("sign in")
    steps.field("api-key", KEY + Keys.ENTER)
    steps.text_of("h1", "Links")
    assert driver.execute_script("return sessionStorage.getItem('shortener.api-key')") == KEY
    assert driver.execute_script("return document.cookie") == ""

    alias = f"web-{secrets.token_hex(4)}"
    steps.say(f"create a link with the alias {alias}")
    steps.field("url", TARGET)
    steps.field("alias", alias)
    steps.find("form.create button[type=submit]").click()
    steps.text_of("#short-url", f"/{alias}")
    short_url = steps.find("#short-url").text
    assert short_url.endswith(f"/{alias}"), short_url

    steps.say("the same alias again: the API's message appears on the alias field")
    steps.field("url", TARGET)
    steps.field("alias", alias)
    steps.find("form.create button[type=submit]").click()
    steps.text_of("#alias-error", "already taken")
    assert steps.find("#alias").get_attribute("aria-invalid") == "true"
    assert steps.find("#url-error").text == ""

    steps.say("find the link in the list by filtering")
    steps.field("filter", alias)
    steps.wait.until(lambda _: [row.get_attribute("data-code") for row in driver.find_elements(By.CSS_SELECTOR, "tbody tr")] == [alias])

    steps.say("open the link's page")
    driver.find_element(By.CSS_SELECTOR, f"tbody tr[data-code='{alias}'] a").click()
    steps.text_of("h1", alias)
    steps.text_of("#link-status", "active")
    steps.text_of("#total-clicks", "0")

    steps.say("the QR code on the page decodes to the short URL")
    steps.wait.until(lambda _: (steps.find("#qr").get_attribute("src") or "").startswith("blob:"))
    steps.wait.until(lambda _: driver.execute_script("return document.getElementById('qr').naturalWidth") > 0)
    # What the page shows, as the browser drew it.
    assert decode(steps.find("#qr").screenshot_as_png, ".png") == short_url

    steps.say("the downloads, SVG and PNG, decode to the short URL")
    for kind in ("SVG", "PNG"):
        button = driver.find_element(By.XPATH, f"//button[normalize-space()='Download {kind}']")
        button.click()
        path = DOWNLOADS / f"{alias}.{kind.lower()}"
        WebDriverWait(driver, 15).until(lambda _: path.exists() and path.stat().st_size > 0)
        assert decode(path.read_bytes(), path.suffix) == short_url, kind

    steps.say("follow the short URL three times in another tab: the target page opens")
    app_window = driver.current_window_handle
    driver.switch_to.new_window("tab")
    for _ in range(3):
        driver.get(short_url)
        WebDriverWait(driver, 15).until(expected.text_to_be_present_in_element((By.ID, "target"), "target page"))
    driver.close()
    driver.switch_to.window(app_window)

    steps.say("and six more as people with other browsers, on both replicas")
    total = 3 + click_as_people(short_url)

    steps.say("the click count, the chart and the lists update without a reload")
    steps.text_of("#total-clicks", str(total), timeout=CLICK_WAIT)
    WebDriverWait(driver, CLICK_WAIT).until(
        lambda _: driver.find_element(By.CSS_SELECTOR, "#chart svg").get_attribute("data-total") == str(total))
    steps.text_of("#totals", "6 by people and 3 by bots")
    steps.text_of(".tops", "example.org")
    steps.text_of(".tops", "Firefox")
    assert driver.execute_script("return window.__sameDocument === true"), "the page was reloaded"
    if SCREENSHOT:
        size = driver.get_window_size()
        driver.set_window_size(size["width"], driver.execute_script("return document.body.scrollHeight") + 120)
        driver.save_screenshot(SCREENSHOT)
        driver.set_window_size(size["width"], size["height"])
        print(f"  · screenshot of the link page: {SCREENSHOT}")

    steps.say("delete the link, confirming in the dialog; its status turns to deleted")
    steps.find("#delete").click()
    WebDriverWait(driver, 5).until(expected.visibility_of_element_located((By.ID, "confirm-delete"))).click()
    steps.text_of("#link-status", "deleted")

    second_domain(steps)
    edit_with_conflict(steps)
    tags_and_export(steps)
    bulk_paste(steps)
    domains_page(steps)
    rules_and_password(steps)
    live_visits(steps)
    keys_page(steps)

    steps.say("no request carried the key in its URL; no errors in the console")
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            assert KEY not in message["params"]["request"]["url"], message["params"]["request"]["url"]
    # The refused key (401) and the taken alias (409) are logged by the browser as failed loads;
    # anything else (a script error, a CSP violation) is a failure.
    # The refused edit and domain (400) and the concurrent edit's 412 likewise.
    # The viewer's refused look at the keys (403) too.
    expected_failures = ("status of 400", "status of 401", "status of 403", "status of 409", "status of 412")
    severe = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
              and not any(failure in entry["message"] for failure in expected_failures)]
    assert not severe, severe


def rows_attribute(driver, name):
    """`name` of every row of the list, or None while the list is being redrawn."""
    try:
        return [row.get_attribute(name) for row in driver.find_elements(By.CSS_SELECTOR, "tbody tr")]
    except StaleElementReferenceException:
        return None


def second_domain(steps):
    """A link on a second domain: picked on create, listed and filtered with its domain, its page
    reached from the list, and its short URL opened through the domain's own Host."""
    driver = steps.driver
    steps.say(f"add the domain {SECOND_DOMAIN}; the create form offers it")
    api("POST", "/api/domains", {"name": SECOND_DOMAIN})
    driver.get(APP)
    steps.text_of("h1", "Links")
    steps.wait.until(lambda _: steps.find("#domain").is_displayed())
    alias = f"dom-{secrets.token_hex(4)}"
    Select(steps.find("#domain")).select_by_value(SECOND_DOMAIN)
    steps.field("url", TARGET)
    steps.field("alias", alias)
    steps.find("form.create button[type=submit]").click()
    steps.text_of("#short-url", f"//{SECOND_DOMAIN}:")
    short_url = steps.find("#short-url").text
    assert short_url.endswith(f"/{alias}"), short_url

    steps.say("the list filters by domain; the link's page shows its domain")
    Select(steps.find("#domain-filter")).select_by_value(SECOND_DOMAIN)
    steps.wait.until(lambda _: rows_attribute(driver, "data-domain") == [SECOND_DOMAIN])
    driver.find_element(By.CSS_SELECTOR, f"tbody tr[data-code='{alias}'] a").click()
    steps.text_of("h1", alias)
    steps.text_of("#link-domain", SECOND_DOMAIN)
    steps.text_of("#link-short-url", short_url)

    steps.say("its short URL, opened through its own Host, leads to the target")
    app_window = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.get(short_url)
    WebDriverWait(driver, 15).until(expected.text_to_be_present_in_element((By.ID, "target"), "target page"))
    driver.close()
    driver.switch_to.window(app_window)


def edit_with_conflict(steps):
    """Editing on the link page, then an edit that meets someone else's: the conflict is shown,
    the form keeps the user's change, and saving over theirs keeps their other fields."""
    driver = steps.driver
    alias = f"edit-{secrets.token_hex(4)}"
    api("POST", "/create", {"url": TARGET, "alias": alias})
    steps.say(f"edit {alias}: a title, tags and the redirect type")
    driver.get(f"{APP}#/links/{alias}")
    steps.text_of("h1", alias)
    steps.text_of("#link-revision", "1")
    steps.find("#edit").click()
    steps.field("edit-title", "Spring sale")
    steps.field("edit-tags", "promo spring")
    Select(steps.find("#edit-redirect_type")).select_by_value("301")
    steps.find("#edit-save").click()
    steps.text_of("#link-title", "Spring sale")
    steps.text_of("#link-tags", "promo, spring")
    steps.text_of("#link-options", "301 redirect")
    steps.text_of("#link-revision", "2")
    link = api("GET", f"/api/links/{alias}")
    assert (link["title"], link["tags"], link["redirect_type"], link["revision"]) == ("Spring sale", ["promo", "spring"], 301, 2), link

    steps.say("a bad target is refused on its field")
    steps.find("#edit").click()
    steps.field("edit-url", "ftp://example.com/file")
    steps.find("#edit-save").click()
    steps.wait.until(lambda _: steps.find("#edit-url-error").text != "")
    assert steps.find("#edit-url").get_attribute("aria-invalid") == "true"

    steps.say("someone else edits while the form is open: the save shows the conflict")
    changed_target = f"{TARGET}?edited=mine"
    steps.field("edit-url", changed_target)
    api("PATCH", f"/api/links/{alias}", {"max_clicks": 5})
    steps.find("#edit-save").click()
    steps.text_of("#edit-conflict", "Someone else saved this link")
    steps.text_of("#edit-conflict", "Max clicks: now “5”")
    assert steps.find("#edit-url").get_attribute("value") == changed_target, "the form lost the user's change"
    assert api("GET", f"/api/links/{alias}")["url"] == TARGET, "a conflicting save was applied"

    steps.say("save mine over theirs: my target, their max clicks")
    steps.find("#edit-overwrite").click()
    steps.text_of("#link-target", changed_target)
    steps.text_of("#link-revision", "4")
    link = api("GET", f"/api/links/{alias}")
    assert (link["url"], link["max_clicks"], link["title"]) == (changed_target, 5, "Spring sale"), link

    steps.say(f"move it to {SECOND_DOMAIN}: the page follows it, the old address is deleted")
    steps.find("#edit").click()
    steps.wait.until(lambda _: steps.find("#edit-domain").is_displayed())
    Select(steps.find("#edit-domain")).select_by_value(SECOND_DOMAIN)
    steps.find("#edit-save").click()
    steps.text_of("#link-domain", SECOND_DOMAIN)
    assert driver.execute_script("return location.hash") == f"#/links/{SECOND_DOMAIN}/{alias}"
    assert api("GET", f"/api/links/{alias}?domain={SECOND_DOMAIN}")["title"] == "Spring sale"
    assert api("GET", f"/api/links/{alias}")["status"] == "deleted"


def tags_and_export(steps):
    """Tags in the list filter it; the export button downloads what the filters select."""
    driver = steps.driver
    tag = f"t{secrets.token_hex(4)}"
    codes = {api("POST", "/create", {"url": f"{TARGET}?tag={index}", "tags": [tag, "web"]})["code"] for index in range(3)}
    api("POST", "/create", {"url": TARGET, "tags": ["web"]})
    steps.say("a tag in the list filters it to the links carrying it")
    driver.get(APP)
    steps.text_of("h1", "Links")
    steps.find(f"tbody tr[data-code='{next(iter(codes))}']")
    driver.find_element(By.CSS_SELECTOR, f"tbody tr[data-code='{next(iter(codes))}'] button[aria-label$=' {tag}']").click()
    steps.wait.until(lambda _: set(rows_attribute(driver, "data-code") or []) == codes)
    assert steps.find("#tag-filter").get_attribute("value") == tag

    steps.say("the export button downloads those links as CSV")
    path = DOWNLOADS / "links.csv"
    path.unlink(missing_ok=True)
    steps.find("#export").click()
    WebDriverWait(driver, 15).until(lambda _: path.exists() and path.stat().st_size > 0)
    lines = path.read_text().splitlines()
    assert lines[0] == "url,alias,expires_at,max_clicks,tags,domain,title,code,created_at,clicks,status,routing", lines[0]
    assert {line.split(",")[7] for line in lines[1:]} == codes, lines


def bulk_paste(steps):
    """Pasted lines through the bulk API: the good ones created with the tags given, a bad one
    listed with its error and row."""
    driver = steps.driver
    tag = f"b{secrets.token_hex(4)}"
    alias = f"bulk-{secrets.token_hex(4)}"
    steps.say("bulk create from pasted lines, one of them bad")
    driver.get(f"{APP}#/bulk")
    steps.text_of("h1", "Bulk create")
    steps.field("bulk-lines", f"{TARGET}?bulk=1\n{TARGET}?bulk=2 {alias}\n\nnot-a-url\n")
    steps.field("bulk-tags", tag)
    steps.find("form.bulk button[type=submit]").click()
    steps.text_of("#bulk-status", "2 created, 1 failed")
    failed = driver.find_elements(By.CSS_SELECTOR, "#bulk-failed tbody tr")
    assert len(failed) == 1 and failed[0].find_elements(By.TAG_NAME, "td")[0].text == "4", [row.text for row in failed]
    created = api("GET", f"/api/links?tag={tag}")["links"]
    assert sorted(link["url"] for link in created) == [f"{TARGET}?bulk=1", f"{TARGET}?bulk=2"], created
    assert alias in {link["code"] for link in created}, created


def domains_page(steps):
    """The domains page adds a domain with a fallback, edits it, and removes it."""
    driver = steps.driver
    name = f"d{secrets.token_hex(3)}.example"
    steps.say(f"the domains page adds {name} with a root page, edits it and removes it")
    driver.get(f"{APP}#/domains")
    steps.text_of("h1", "Domains")
    steps.text_of("#domains", SECOND_DOMAIN)
    steps.field("domain-add-name", "not a host!")
    steps.find("#domain-add button[type=submit]").click()
    steps.wait.until(lambda _: steps.find("#domain-add-name-error").text != "")
    steps.field("domain-add-name", name)
    steps.field("domain-add-root_url", TARGET)
    steps.find("#domain-add button[type=submit]").click()
    steps.text_of(f"#domains tr[data-domain='{name}']", TARGET)
    driver.find_element(By.CSS_SELECTOR, f"button[aria-label='Edit {name}']").click()
    steps.field("domain-edit-not_found_url", f"{TARGET}?missing=1")
    steps.find("#domain-edit button[type=submit]").click()
    steps.text_of(f"#domains tr[data-domain='{name}']", "?missing=1")
    domain = next(each for each in api("GET", "/api/domains")["domains"] if each["name"] == name)
    assert (domain["root_url"], domain["not_found_url"]) == (TARGET, f"{TARGET}?missing=1"), domain
    driver.find_element(By.CSS_SELECTOR, f"button[aria-label='Remove {name}']").click()
    WebDriverWait(driver, 5).until(expected.visibility_of_element_located((By.ID, "confirm-remove"))).click()
    steps.wait.until(lambda _: not driver.find_elements(By.CSS_SELECTOR, f"#domains tr[data-domain='{name}']"))
    assert name not in {each["name"] for each in api("GET", "/api/domains")["domains"]}


IPHONE = PEOPLE[1][0]
DESKTOP = PEOPLE[0][0]


def rules_and_password(steps):
    """Rules and a password set in the edit form, the preview saying where a phone goes; the
    short URL opened as a phone and as a desktop (the user agent overridden) shows the replica's
    form, refuses a wrong password, and the right one lands on the rule's target or the link's."""
    driver = steps.driver
    alias = f"rules-{secrets.token_hex(4)}"
    api("POST", "/create", {"url": TARGET, "alias": alias})
    phone_target = f"{TARGET}?phone=1"
    steps.say(f"add a rule for phones to {alias}, see the preview, and set a password")
    driver.get(f"{APP}#/links/{alias}")
    steps.text_of("h1", alias)
    steps.find("#edit").click()
    steps.find("#add-rule").click()
    rule = steps.find("#rules .rule")
    assert rule.find_element(By.CSS_SELECTOR, ".condition-values").get_attribute("value") == "mobile"
    rule.find_element(By.CSS_SELECTOR, ".rule-url").send_keys(phone_target)
    Select(steps.find("#preview-device")).select_by_value("mobile")
    Select(steps.find("#preview-os")).select_by_value("ios")
    steps.field("preview-country", "DE")
    steps.find("#preview-ask").click()
    steps.text_of("#preview-answer", f"goes to {phone_target} (rule 1)")
    assert "a phone with iOS in DE" in steps.find("#preview-answer").text
    Select(steps.find("#preview-device")).select_by_value("desktop")
    steps.find("#preview-ask").click()
    steps.text_of("#preview-answer", "(no rule holds)")
    steps.field("edit-password", "sesame-123")
    steps.find("#edit-save").click()
    steps.text_of("#link-routing", "1 rule")
    steps.text_of("#link-password", "visitors must give one")
    link = api("GET", f"/api/links/{alias}")
    assert link["rules"] == [{"when": {"device": ["mobile"]}, "url": phone_target}], link["rules"]
    assert link["password_protected"] is True and "sesame" not in json.dumps(link), link

    short_url = link["short_url"]
    for agent, expected_target in ((IPHONE, phone_target), (DESKTOP, TARGET)):
        device = "a phone" if agent == IPHONE else "a desktop"
        steps.say(f"open the short URL as {device}: the form, a wrong password, then the right one")
        driver.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": agent})
        deadline = time.time() + CLICK_WAIT
        while True:  # the replicas learn of the edit within a moment
            driver.get(short_url)
            if driver.find_elements(By.CSS_SELECTOR, "form input[type=password]") or time.time() > deadline:
                break
            time.sleep(0.5)
        steps.text_of("h1", f"/{alias}")
        assert TARGET.split("//")[1] not in driver.page_source, "the form reveals the target"
        steps.field("password", "wrong-one")
        steps.find("form button[type=submit]").click()
        steps.text_of("[role=alert]", "not right")
        steps.field("password", "sesame-123")
        steps.find("form button[type=submit]").click()
        steps.wait.until(lambda _: driver.current_url.startswith(TARGET))
        assert driver.current_url == expected_target, (device, driver.current_url)
    driver.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": DESKTOP})
    driver.get(APP)
    steps.text_of("h1", "Links")


def live_visits(steps):
    """The link page's live panel shows a click made in another tab within 2 s, and the recent
    visits table lists it after a refresh."""
    driver = steps.driver
    alias = f"live-{secrets.token_hex(4)}"
    link = api("POST", "/create", {"url": TARGET, "alias": alias})
    deadline = time.time() + CLICK_WAIT
    while True:  # the replicas learn of the new link within a moment (these visits come before the stream)
        try:
            with urllib.request.urlopen(link["short_url"], timeout=10) as reply:
                if reply.status == 200:
                    break
        except urllib.error.HTTPError:
            if time.time() > deadline:
                raise
        time.sleep(0.2)
    steps.say(f"open {alias}'s page and follow its live visits")
    driver.get(f"{APP}#/links/{alias}")
    steps.text_of("h1", alias)
    steps.text_of("#live-state", "Live:")
    page = driver.current_window_handle
    steps.say("click the short URL in another tab; the live panel shows it within 2 s")
    driver.switch_to.new_window("tab")
    driver.get(link["short_url"])
    clicked = time.time()
    assert driver.current_url.startswith(TARGET), driver.current_url
    driver.switch_to.window(page)
    WebDriverWait(driver, 2).until(
        expected.presence_of_element_located((By.CSS_SELECTOR, "#live-visits tbody tr:not(.empty)")))
    print(f"    the live panel showed the click {time.time() - clicked:.2f} s after it", flush=True)
    row = steps.find("#live-visits tbody tr")
    # A new tab has no user-agent override: headless Chromium counts as a bot, shown as one.
    assert "302 redirect" in row.text and "Linux" in row.text, row.text
    steps.find("#visits-reload").click()
    steps.text_of("#recent-visits tbody", "302 redirect")
    for handle in driver.window_handles:
        if handle != page:
            driver.switch_to.window(handle)
            driver.close()
    driver.switch_to.window(page)


def keys_page(steps):
    """An admin creates a viewer key on the keys page (its secret shown once); signed in with it,
    the app offers no create, bulk, keys, edit or delete, and the API refuses the keys page."""
    driver = steps.driver
    name = f"reader-{secrets.token_hex(3)}"
    code = api("POST", "/create", {"url": TARGET})["code"]
    steps.say(f"the keys page creates the viewer key {name} and shows its secret once")
    driver.get(f"{APP}#/keys")
    steps.text_of("h1", "API keys")
    steps.field("key-name", name)
    Select(steps.find("#key-role")).select_by_value("viewer")
    steps.find("#key-add button[type=submit]").click()
    secret = steps.find("#new-secret").text
    assert secret.startswith("sk_"), secret
    steps.text_of("#keys", name)
    listed = next(each for each in api("GET", "/api/keys")["keys"] if each["name"] == name)
    assert listed["role"] == "viewer" and "secret" not in listed, listed

    steps.say("signed in with the viewer key, nothing it may not do is offered")
    steps.find("#sign-out").click()
    steps.field("api-key", secret + Keys.ENTER)
    steps.text_of("h1", "Links")
    steps.find("tbody tr")
    assert not driver.find_elements(By.CSS_SELECTOR, "form.create"), "no create form"
    for href in ("#/bulk", "#/keys"):
        assert not driver.find_element(By.CSS_SELECTOR, f"#nav a[href='{href}']").is_displayed(), href
    driver.get(f"{APP}#/links/{code}")
    steps.text_of("h1", code)
    steps.text_of("#link-status", "active")
    for control in ("#edit", "#delete"):
        assert not steps.find(control).is_displayed(), f"{control} is offered to a viewer"
    steps.say("the keys page, opened by hand, shows the API's refusal")
    driver.get(f"{APP}#/keys")
    steps.text_of("#keys-error", "keys:manage")

    steps.say("sign in as the admin again")
    steps.find("#sign-out").click()
    steps.field("api-key", KEY + Keys.ENTER)
    steps.text_of("h1", "Links")
    assert driver.find_element(By.CSS_SELECTOR, "#nav a[href='#/keys']").is_displayed()


def narrow(steps):
    """At 360 px the list and a link page fit the width: no sideways scrolling."""
    driver = steps.driver
    steps.say("at 360 px wide, the pages fit")
    driver.get(APP)
    steps.field("api-key", KEY + Keys.ENTER)
    steps.text_of("h1", "Links")
    steps.find("tbody tr")
    assert driver.execute_script("return window.innerWidth") == 360
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 360
    steps.say("the create form works from the keyboard alone")
    steps.find("#url").click()
    active = driver.switch_to.active_element
    active.send_keys(TARGET)
    # url → alias → the expiry's parts → max clicks → the button
    for _ in range(20):
        if driver.switch_to.active_element.text == "Shorten":
            break
        driver.switch_to.active_element.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.text == "Shorten", "Tab never reached the Shorten button"
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    steps.find("#short-url")
    code = steps.find("#short-url").text.rsplit("/", 1)[1]
    driver.get(f"{APP}#/links/{code}")
    steps.text_of("h1", code)
    steps.find("#chart svg")
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 360


def main():
    check_headers()
    print("  · the page's CSP, ETag and Cache-Control headers are in place")
    check_qr_codes()
    failed = False
    for name, size, run in (("tour", (1280, 1000), tour), ("narrow", (360, 800), narrow)):
        driver = browser(*size)
        steps = Steps(driver)
        try:
            run(steps)
        except (AssertionError, TimeoutException, Exception):
            failed = True
            shot, console = steps.save_artifacts(f"failure-{name}")
            traceback.print_exc()
            print(f"FAILED at '{steps.step}'. Screenshot: {shot}  Console log: {console}", file=sys.stderr)
        finally:
            driver.quit()
    if failed:
        sys.exit(1)
    print("browser tests passed")


if __name__ == "__main__":
    main()
