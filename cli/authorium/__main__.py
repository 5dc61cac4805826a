from authorium.cli import main

raise SystemExit(main())
