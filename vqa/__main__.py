from vqa.cli import main

main()
