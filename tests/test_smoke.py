def test_factory_builds_with_testing_config(app):
    assert app.config["TESTING"]
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")


def test_world_builds(world):
    assert world.detail.lead is world.agent
    assert {s.name for s in world.detail.sites} == {"Grand Hotel", "ExCeL London"}
