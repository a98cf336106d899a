from crosscloud.cli import main

raise SystemExit(main())
