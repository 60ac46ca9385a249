# A test stub, NOT nixpkgs' lib: the few functions nix/module.nix calls, built from builtins.
# Module-system properties (mkIf, mkMerge) stay as inert markers for module-test.nix to resolve;
# option declarations are returned as given. Only lets tests call module.nix's `config` branch
# with a hand-made configuration; the real evaluation is against nixpkgs (see nix/checks.nix).
let
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    listToAttrs
    map
    stringLength
    substring
    ;
  mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
  type = name: { _stubType = name; };
in
{
  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };
  mkForce = content: {
    _type = "override";
    priority = 50;
    inherit content;
  };
  mkOption = declaration: declaration;
  mkEnableOption = description: { inherit description; };
  literalExpression = text: { inherit text; };
  types = {
    attrsOf = _: type "attrsOf";
    either = _: _: type "either";
    nullOr = _: type "nullOr";
    strMatching = _: type "strMatching";
    bool = type "bool";
    lines = type "lines";
    package = type "package";
    path = type "path";
    str = type "str";
  };

  inherit
    attrNames
    concatStringsSep
    filter
    hasPrefix
    mapAttrsToList
    ;
  attrValues = set: map (n: set.${n}) (attrNames set);
  any = builtins.any;
  concatLists = builtins.concatLists;
  concatStrings = concatStringsSep "";
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
  mapAttrs = builtins.mapAttrs;
  genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
  mapAttrs' = f: set: listToAttrs (mapAttrsToList f set);
  nameValuePair = name: value: { inherit name value; };
  filterAttrs =
    pred: set:
    listToAttrs (
      map (n: {
        name = n;
        value = set.${n};
      }) (filter (n: pred n set.${n}) (attrNames set))
    );
  optional = cond: x: if cond then [ x ] else [ ];
  optionalAttrs = cond: set: if cond then set else { };
  optionalString = cond: s: if cond then s else "";
  hasInfix =
    infix: s:
    let
      n = stringLength infix;
      m = stringLength s;
    in
    n <= m && builtins.any (i: substring i n s == infix) (builtins.genList (i: i) (m - n + 1));
  escapeShellArg = arg: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString arg)}'";
  attrByPath =
    path: default: set:
    if path == [ ] then
      set
    else if builtins.isAttrs set && set ? ${builtins.head path} then
      (import ./stub-lib.nix).attrByPath (builtins.tail path) default set.${builtins.head path}
    else
      default;
}
