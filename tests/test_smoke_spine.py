from funnelwatch import Status


def test_healthy_landing_page_passes(project, site):
    site.page("/lp/ok", "<title>Spring offer</title><h1>Spring offer</h1><p>Free checklist</p>")
    project.check("ok", f"""
        name: Spring offer
        landing:
          url: {site.url('/lp/ok')}
          must_show: [Free checklist]
    """)
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
