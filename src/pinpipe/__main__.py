from pinpipe.cli.main import app

app()
