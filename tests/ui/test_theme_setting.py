"""The chosen theme is remembered in the config and used at the next start."""

from mailtui.core.profiles import Config, ServerProfile, load_config, save_config
from mailtui.ui.app import MailtuiApp


async def test_theme_choice_is_saved_and_restored(isolated_home):
    config = Config(path=load_config().path).with_server(ServerProfile("mail", "mail.example.org"))
    save_config(config)  # a saved server: the app opens on the Servers screen, no connection
    app = MailtuiApp(config=load_config())
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.theme == "mailtui-dark"
        app.theme = "mailtui-light"
        await pilot.pause()
    assert load_config().settings.theme == "mailtui-light"
    again = MailtuiApp(config=load_config())
    async with again.run_test(size=(100, 30)):
        assert again.theme == "mailtui-light"
