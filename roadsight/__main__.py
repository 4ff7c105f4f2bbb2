from roadsight.cli import main

main()
