-- wrk script: POST /jobs with a small noop job.
wrk.method = "POST"
wrk.body = '{"kind":"noop","payload":{"part":"bracket-12","qty":4}}'
wrk.headers["Content-Type"] = "application/json"
