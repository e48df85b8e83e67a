from pinpipe.cli.main import main

main()
