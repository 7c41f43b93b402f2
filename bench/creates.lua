-- wrk script: POST /create with a small JSON body, as a client of the master would.
wrk.method = "POST"
wrk.body = '{"url":"https://example.com/bench/create"}'
wrk.headers["Content-Type"] = "application/json"
