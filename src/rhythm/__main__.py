from rhythm.cli import main

main()
