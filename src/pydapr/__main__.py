from pydapr.cli.main import main

main()
