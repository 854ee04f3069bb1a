// find_person — a person by name, pinyin or the last digits of the ID number, through the full-text index.
//
// Answers: "who is 秀英 / wang xiu ying / the person whose ID number ends 0123?"
//   text is read as one of three things and matched that way (match column):
//     two or more Chinese characters       'name': names containing them
//     4 to 18 digits (an X may end them)   'id_number': ID numbers ending with them
//     Latin letters and spaces             'pinyin': names whose toneless pinyin, run
//                                          together (wangxiuying), starts with them
//   Anything else finds nobody. The full-text index person_search (CJK analyzer) gives
//   the candidates, the rule above keeps those that match. Exact matches (the whole
//   name, pinyin or ID number) first, then by person_id; at most `limit` rows.
//   id_number is masked: its first 4 and last 4 characters kept.
//   On a graph loaded for analysts (LINKGRAPH_NEO4J_AUDIENCE=analyst) names are masked and
//   no pinyin is kept: only an ID number's last 4 digits find anyone (cypher/README.md).
// Parameters:
//   :param text => '秀英'                    (required) a name, pinyin or an ID number's last digits
//   :param limit => 20                      most rows returned
// Returns: person_id, name, id_number, birth_date, village, match, death_date, open_flags, money_at_risk — exact matches first, then by person_id
// Example: linkgraph query find_person --param text="wang xiu"
WITH trim($text) AS text
WITH text, replace(toLower(text), ' ', '') AS letters, toUpper(text) AS digits
WITH text, letters, digits,
     CASE WHEN text =~ '[\u3400-\u9fff]{2,}' THEN 'name'
          WHEN digits =~ '[0-9]{3,17}[0-9X]' THEN 'id_number'
          WHEN letters =~ '[a-z]+' THEN 'pinyin' END AS match
WHERE match IS NOT NULL
CALL db.index.fulltext.queryNodes('person_search',
  CASE match WHEN 'name' THEN 'name:"' + text + '"'
             WHEN 'id_number' THEN 'id_number:*' + toLower(digits)
             ELSE 'pinyin:' + letters + '*' END) YIELD node AS p
WITH p, match, CASE match WHEN 'name' THEN p.name = text
                          WHEN 'id_number' THEN p.id_number = digits
                          ELSE p.pinyin = letters END AS exact
WHERE CASE match WHEN 'name' THEN p.name CONTAINS text
                 WHEN 'id_number' THEN p.id_number ENDS WITH digits
                 ELSE p.pinyin STARTS WITH letters END
RETURN p.person_id AS person_id, p.name AS name,
       CASE WHEN size(p.id_number) > 8
            THEN left(p.id_number, 4) + substring('**********', 0, size(p.id_number) - 8) + right(p.id_number, 4)
            ELSE p.id_number END AS id_number,
       p.birth_date AS birth_date, p.village AS village, match, p.death_date AS death_date,
       coalesce(p.open_flags, 0) AS open_flags, coalesce(p.money_at_risk, 0) AS money_at_risk
ORDER BY exact DESC, person_id
LIMIT CASE WHEN $limit > 0 THEN $limit ELSE 0 END
